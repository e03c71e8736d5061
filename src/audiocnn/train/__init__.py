"""Training: the recipe (:class:`TrainConfig`, recipe files, study presets), a Lightning module for
any registered model, the per-fold fit with model selection on a validation split, atomic
checkpoints and resume. The k-fold runner is
:func:`audiocnn.evaluate.run_experiment`."""

import importlib

from audiocnn.train.config import TrainConfig
from audiocnn.train.presets import PRESETS, preset_config
from audiocnn.train.recipe import Recipe, read_recipe, resolve_config, write_recipe

# The Lightning parts (the `train` extra) load on first use, so that the recipe, the presets and
# the CLI's flags work without Lightning, and `audiocnn tag` does not pay for its import.
_LIGHTNING_NAMES = {
    "AtomicCheckpointIO": "audiocnn.train.loop",
    "FoldFit": "audiocnn.train.loop",
    "build_model": "audiocnn.train.loop",
    "fit_fold": "audiocnn.train.loop",
    "load_lightning_weights": "audiocnn.train.loop",
    "AudioClassifier": "audiocnn.train.module",
    "WeightAverage": "audiocnn.train.module",
    "lr_lambda": "audiocnn.train.module",
}


def __getattr__(name: str):
    if name in _LIGHTNING_NAMES:
        return getattr(importlib.import_module(_LIGHTNING_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "AtomicCheckpointIO",
    "AudioClassifier",
    "FoldFit",
    "PRESETS",
    "Recipe",
    "TrainConfig",
    "WeightAverage",
    "build_model",
    "fit_fold",
    "load_lightning_weights",
    "lr_lambda",
    "preset_config",
    "read_recipe",
    "resolve_config",
    "write_recipe",
]
