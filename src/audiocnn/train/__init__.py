"""Training: the recipe (:class:`TrainConfig`, recipe files, study presets), a Lightning module for
any registered model, the per-fold fit with model selection on a validation split, atomic
checkpoints and resume. The k-fold runner is
:func:`audiocnn.evaluate.run_experiment`."""

from audiocnn.train.config import TrainConfig
from audiocnn.train.loop import AtomicCheckpointIO, FoldFit, build_model, fit_fold, load_lightning_weights
from audiocnn.train.module import AudioClassifier, WeightAverage, lr_lambda
from audiocnn.train.presets import PRESETS, preset_config
from audiocnn.train.recipe import Recipe, read_recipe, resolve_config, write_recipe

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
