"""Training: a Lightning module for any registered model, the per-fold fit with model selection
on a validation split, atomic checkpoints and resume. The k-fold runner is
:func:`audiocnn.evaluate.run_experiment`."""

from audiocnn.train.config import TrainConfig
from audiocnn.train.loop import AtomicCheckpointIO, FoldFit, build_model, fit_fold, load_lightning_weights
from audiocnn.train.module import AudioClassifier, WeightAverage, lr_lambda

__all__ = [
    "AtomicCheckpointIO",
    "AudioClassifier",
    "FoldFit",
    "TrainConfig",
    "WeightAverage",
    "build_model",
    "fit_fold",
    "load_lightning_weights",
    "lr_lambda",
]
