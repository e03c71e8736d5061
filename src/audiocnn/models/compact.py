"""Compact CNNs for small datasets on a CPU: narrow PANNs-style Cnn stacks at 16 or 8 kHz.

The PANNs models were sized for 2 million AudioSet clips; trained from scratch on a few hundred
or thousand clips on a 2-core CPU they are slow and over-parameterised. These variants keep the
PANNs recipe (log-mel front-end, BatchNorm on mel bins, conv blocks with average pooling,
max + mean pooling over time, ``fc1``, linear head) with fewer channels and a SpecAugment sized
for clips of one to a few seconds (PANNs drops stripes of up to 64 frames, which is most of a
one-second clip). ``cnn_small`` is the default model of ``audiocnn train``; see
``docs/training.md`` for the measurements behind the choice.
"""

from __future__ import annotations

from audiocnn.features.augment import SpecAugment
from audiocnn.models._registry import register_model
from audiocnn.models.base import ModelInfo
from audiocnn.models.panns import PannsCnn

__all__ = ["CompactCnn"]

_REF = "narrow variant of the PANNs Cnn (Kong et al. 2020), this toolkit"


class CompactCnn(PannsCnn):
    """A :class:`~audiocnn.models.panns.PannsCnn` with a short-clip SpecAugment.

    Args:
        time_drop_width / freq_drop_width: largest stripe (frames / mel bins); 2 stripes each.
        other arguments: as :class:`~audiocnn.models.panns.PannsCnn`.
    """

    def __init__(self, info: ModelInfo, *, time_drop_width: int = 16, freq_drop_width: int = 8, spec_augment: bool = True, **kwargs):
        super().__init__(info, spec_augment=False, **kwargs)
        if spec_augment:
            self.spec_augmenter = SpecAugment(time_drop_width, 2, freq_drop_width, 2)


def _compact(name: str, **kwargs) -> CompactCnn:
    kwargs.setdefault("sample_rate", 16000)
    info = ModelInfo(name=name, input="log-mel", sample_rate=0, reference=_REF)
    return CompactCnn(info, **kwargs)


@register_model
def cnn_small(**kwargs) -> CompactCnn:
    """Four blocks of two 3x3 convs (32-256 channels) at 16 kHz, about 1.2 M parameters; the
    default of ``audiocnn train``."""
    return _compact("cnn_small", channels=(32, 64, 128, 256), **kwargs)


@register_model
def cnn_tiny(**kwargs) -> CompactCnn:
    """Four blocks of two 3x3 convs (16-128 channels) at 16 kHz, about 0.3 M parameters."""
    return _compact("cnn_tiny", channels=(16, 32, 64, 128), **kwargs)


@register_model
def cnn6_lite(**kwargs) -> CompactCnn:
    """Cnn6 layout (four 5x5 conv blocks) at a quarter of the width (16-128) and 16 kHz."""
    return _compact("cnn6_lite", channels=(16, 32, 64, 128), kernel_size=5, num_convs=1, **kwargs)
