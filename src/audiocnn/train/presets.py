"""Study presets: the training recipe of each paper audiocnn implements, as named configurations.

``audiocnn train --preset panns|rethinking`` starts from :func:`preset_config` (a complete
:class:`~audiocnn.train.TrainConfig`: the values below, the defaults for everything the paper
does not fix); a recipe file and explicit flags override it. ``docs/presets.md`` lists the same
values with their sources, and a test compares that table with :func:`preset_config`.

The third study, Pons & Serra 2019, trains no network: its CNNs keep random weights and an
SVM or ELM is tuned on their embeddings. Its settings are those of ``audiocnn random-cnn``
(:data:`RANDOM_CNN_PRESETS`), and ``train --preset pons`` is refused with a message saying so.
"""

from __future__ import annotations

import copy

from audiocnn.train.config import TrainConfig

__all__ = ["PRESETS", "RANDOM_CNN_PRESETS", "PresetError", "preset_config", "preset_names"]


class PresetError(ValueError):
    """An unknown preset, or one that is not a training recipe."""


PRESETS: dict[str, dict] = {
    # Kong et al. 2020, PANNs (arXiv:1912.10211), section III and the released training code:
    # Cnn14 on 32 kHz log-mel (1024-sample window, 320 hop, 64 bins, 50-14,000 Hz), SpecAugment,
    # mixup (alpha 1.0) of the log-mel inside the model, balanced sampling, batch 32, Adam with
    # lr 1e-3, amsgrad, no weight decay, a constant learning rate, 10-s clips; counted in
    # iterations: evaluation every 2,000 (main.py), stop at 1,000,000 (runme.sh, --early_stop).
    "panns": {
        "model": "cnn14",
        "model_kwargs": {"sample_rate": 32000, "spec_augment": True},
        "clip_seconds": 10.0,
        "batch_size": 32,
        "optimizer": "adam",
        "lr": 1e-3,
        "amsgrad": True,
        "weight_decay": 0.0,
        "schedule": "constant",
        "warmup_epochs": 0.0,
        "mixup": 1.0,
        "mixup_on": "logmel",
        "balanced": True,
        "patience": 0,
        "val_fraction": 0.1,  # the best of the evaluations on a validation split is kept
        "max_steps": 1_000_000,
        "val_every": 2000,
    },
    # Palanisamy et al. 2020, Rethinking CNN models for audio classification (arXiv:2007.11154)
    # and its released configuration for ESC-50: DenseNet-201 from ImageNet weights on the
    # three-channel 128-band log-mel (windows 25/50/100 ms, hops 10/25/50 ms) at 44.1 kHz,
    # 5-s clips, batch 32, Adam lr 1e-4 with weight decay 1e-3, learning rate x0.1 every 30
    # epochs, 70 epochs.
    "rethinking": {
        "model": "imagenet_densenet201",
        "model_kwargs": {"sample_rate": 44100, "init": "imagenet"},
        "clip_seconds": 5.0,
        "epochs": 70,
        "batch_size": 32,
        "optimizer": "adam",
        "lr": 1e-4,
        "weight_decay": 1e-3,
        "schedule": "step",
        "step_epochs": 30,
        "gamma": 0.1,
        "warmup_epochs": 0.0,
        "mixup": 0.0,
        "patience": 0,
        "val_fraction": 0.1,  # the best epoch on a validation split is kept
    },
}

# Pons & Serra 2019, Randomly weighted CNNs for (music) audio classification (arXiv:1805.00237):
# 12 kHz audio, 96 mel bands, every front-end of the study, SVM and ELM back-ends. These are
# settings of `audiocnn random-cnn`, not of a training run.
RANDOM_CNN_PRESETS: dict[str, dict] = {
    "pons": {
        "sample_rate": 12000,
        "n_mels": 96,
        "frontends": "all",
        "backends": "svm,elm",
    },
}


def preset_names() -> tuple[str, ...]:
    """Every preset name: the training recipes and the random-CNN study."""
    return tuple(PRESETS) + tuple(n for n in RANDOM_CNN_PRESETS if n not in PRESETS)


def preset_values(name: str) -> dict:
    """The values preset ``name`` sets (a copy), for :class:`~audiocnn.train.TrainConfig` fields."""
    if name in PRESETS:
        return copy.deepcopy(PRESETS[name])
    if name in RANDOM_CNN_PRESETS:
        raise PresetError(
            f"preset {name!r} (Pons & Serra 2019) trains no network: its CNNs keep random weights and an SVM/ELM "
            f"back-end is tuned on their embeddings; run `audiocnn random-cnn --preset {name} --data ...` instead"
        )
    raise PresetError(f"unknown preset {name!r}; the presets are {', '.join(preset_names())}")


def preset_config(name: str, **overrides) -> TrainConfig:
    """The complete configuration of preset ``name`` (``overrides`` replace its values)."""
    return TrainConfig(**{**preset_values(name), **overrides})
