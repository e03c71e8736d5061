"""Front-ends (log-mel etc.) as pure functions plus thin modules, and training-time augmentation.

The package exports the public names of :mod:`.spectrogram` and :mod:`.augment`."""

from audiocnn.features import augment, spectrogram
from audiocnn.features.augment import *  # noqa: F403
from audiocnn.features.spectrogram import *  # noqa: F403

__all__: list[str] = []
__all__ += spectrogram.__all__
__all__ += augment.__all__
