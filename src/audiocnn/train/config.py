"""The training configuration: one dataclass, saved with every run and checkpoint."""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, fields

from audiocnn.train.options import config_options, option

__all__ = ["DEFAULTS_NOTE", "RECIPES", "TrainConfig", "auto_precision"]

#: What a fold scores (``audiocnn train --recipe``): ``"cnn"`` the trained model, ``"auto"`` the
#: trained CNN or a baseline, chosen on an inner split (:mod:`audiocnn.evaluate.auto_recipe`).
RECIPES = ("cnn", "auto")


def auto_precision(accelerator: str = "cpu") -> str:
    """The training precision ``--precision auto`` stands for: ``"bf16-mixed"`` (bfloat16
    autocast of the forward pass, float32 weights and optimiser) when training runs on a CPU that
    computes bfloat16 dot products in hardware (AVX512-BF16 or AMX-BF16), else ``"32-true"``.

    On such a CPU a default run trains 10-s clips about 1.4 times faster at the same accuracy,
    and short clips in about the same time (see docs/results.md, "bf16 autocast as the default on
    CPUs with native bf16"); without them bfloat16 is emulated and slower than float32. Other
    accelerators keep float32.
    """
    from audiocnn.cpu import cpu_has_native_bf16

    on_cpu = accelerator == "cpu"
    if accelerator == "auto":  # torch only then: a configuration is made before torch is needed
        import torch

        on_cpu = not torch.cuda.is_available()
    return "bf16-mixed" if on_cpu and cpu_has_native_bf16() else "32-true"

DEFAULTS_NOTE = "defaults chosen by measurement on speech, sound events and music-like sounds: see docs/training.md"


@dataclass
class TrainConfig:
    """Everything that decides a training run.

    Attributes:
        model: registry name (``audiocnn models``); ``model_kwargs`` go to ``create_model``.
        clip_seconds: training/evaluation clip length; ``None`` = automatic (95th percentile of
            the file durations, rounded up to 0.25 s, between 0.5 and 10 s).
        epochs, batch_size, lr, weight_decay: the usual; ``optimizer`` ``"adamw"`` (decoupled
            weight decay) or ``"adam"`` (weight decay as an L2 term of the gradient, as
            ``torch.optim.Adam``); ``amsgrad`` their AMSGrad variant.
            ``lr=None``: 1e-3 from scratch (the PANNs rate), 1e-4 fine-tuning, 1e-3 linear probing.
        schedule: ``"cosine"`` (to 0 after warm-up), ``"step"`` (x ``gamma`` every
            ``step_epochs``) or ``"constant"``; ``warmup_epochs`` of linear warm-up first.
        mixup: Beta(alpha, alpha) mixup of the inputs and targets; 0 disables it.
        mixup_on: ``"waveform"`` mixes the waveforms before the model (every model);
            ``"logmel"`` mixes the log-mel spectrograms after SpecAugment inside the model's
            forward, as PANNs does (models with a log-mel front-end).
        speed_perturb: random speed change of each training waveform by up to this fraction
            (0.1: factors in [0.9, 1.1]); 0 disables it.
        time_shift: place each training file shorter than a clip at a random offset inside
            its zero-padded clip instead of at the start (longer files are cropped at a random
            offset anyway); evaluation still pads at the end.
        label_smoothing: for single-label cross-entropy.
        ema: decay of an exponential moving average of the weights (and BatchNorm statistics),
            updated every step with a warm-up (decay ``min(ema, (1 + n) / (10 + n))`` at step
            ``n``); validation, model selection, the saved model and the test use the average.
            0 disables it. It smooths the epoch-to-epoch swings of small-data runs.
        balanced: PANNs balanced sampler (each class equally often) instead of shuffling.
        batch_by_length: training batches of files of similar length
            (:class:`~audiocnn.train.determinism.LengthBatchSampler`), each cut to its shortest
            file (:func:`~audiocnn.train.determinism.crop_to_shortest`), instead of every file
            shorter than a clip zero-padded to the clip length: no time is spent on padding. The
            saved model's windowing then has ``pad_short=False``, so evaluation, tagging and
            the other commands score a short file at its own length, as it was trained.
        val_fraction: part of the training folds held out to choose the epoch, stop early
            (``patience``) and choose the statistics head's share. 0 (the default): no
            validation split; each fold trains on all of its training folds for the whole
            schedule and keeps the last epoch, which measured better on small data than
            choosing on a small validation split (docs/results.md).
        val_groups: when the data has groups (speakers...), hold out whole groups for
            validation (a group-independent choice of epoch, at the price of training on one
            group fewer); ``False`` takes a stratified random part of every training group.
        patience: early-stopping patience in epochs on the validation score (with a validation
            split, ``val_fraction > 0``); 0 disables it.
        checkpoint, mode: transfer learning; ``mode`` ``"scratch"``, ``"finetune"`` or ``"linear"``
            (frozen backbone, trained head); ``None`` = ``finetune`` with a checkpoint, else ``scratch``.
        eval_windows: evaluate test files with sliding windows (hop = half a clip) averaged per
            file instead of one centre crop; ``None`` = windows when some files are longer than
            a clip.
        adapt_bn: also score every test fold after test-time BatchNorm adaptation
            (:func:`audiocnn.evaluate.predict.adapt_batchnorm`: statistics re-estimated on the
            fold's unlabelled test audio). Transductive; the plain scores are kept as
            ``*_unadapted`` and the report shows both.
        adapt_im: after the BatchNorm adaptation of ``adapt_bn`` (done whatever ``adapt_bn`` says), also train the BatchNorm
            affine parameters on the fold's unlabelled test audio by information maximisation
            (:func:`audiocnn.evaluate.predict.adapt_information_maximization`; transductive,
            assumes the test audio covers the classes roughly evenly; single-label only). The
            scores after BatchNorm adaptation alone are kept as ``*_adabn``.
        stats_head: MFCCs of the late-fused statistics classifier of the compact CNNs
            (:mod:`audiocnn.train.stats_head`): after training, a logistic regression on (random Fourier features of) MFCC
            statistics of the training part's windows, whose probabilities are averaged with the
            CNN's in the saved model, with a share (0, 0.25 or 0.5) chosen on the validation
            split (0.5 without one); 0 = off. Single-label data held in memory, from scratch.
        stats_head_features: the statistics head's input: N random Fourier features of the
            standardised statistics (``head_features`` of
            :class:`~audiocnn.models.compact.CompactCnn`), 0 = the statistics themselves (a
            linear head).
        ensemble: members per fold: each test fold is scored with the probabilities averaged over
            this many models trained on the same split with seeds ``seed + i + 1000 j``.
        seed: seeds everything; fold ``i`` is trained with ``seed + i``.
        accelerator, devices, strategy: passed to ``lightning.Trainer``.
        precision: passed to ``lightning.Trainer``; ``"auto"`` (the default) becomes
            :func:`auto_precision`'s choice when the configuration is made: ``"bf16-mixed"``
            (bfloat16 autocast, float32 weights) when training on a CPU with native bfloat16
            arithmetic, else ``"32-true"``.
        logger: ``"csv"`` or ``"tensorboard"``: the Lightning logger of the training curves.

    Each field is declared with :func:`~audiocnn.train.options.option` (help text, range, flag
    name): ``audiocnn train`` builds its flags from these declarations and recipe files are
    checked by them.
    """

    model: str = option("cnn10_lite", "registered model (`audiocnn models`)")
    model_kwargs: dict = option(
        factory=dict, flag="--model-arg", metavar="KEY=VALUE",
        help="architecture argument for create_model, repeatable, typed by the model's signature "
        "(--model-arg fc_dropout=0.2, --model-arg spec_augment=false)",
    )
    clip_seconds: float | None = option(None, "clip length (default: 95th percentile of file durations)", low=0, low_open=True)
    epochs: int = option(30, "maximum epochs per fold", low=1)
    max_steps: int = option(
        0, "train for this many optimiser steps instead, however many epochs they take; the learning-rate "
        "schedule spans them (0 = --epochs epochs)", metavar="STEPS", low=0,
    )
    val_every: int = option(
        0, "validate every STEPS optimiser steps, across epoch ends, instead of once per epoch; model selection "
        "and --patience then count validations (0 = every epoch)", metavar="STEPS", low=0,
    )
    batch_size: int = option(16, "clips per training step", low=1)
    lr: float | None = option(
        None, "peak learning rate (default 1e-3 from scratch, 1e-4 with --mode finetune, 1e-3 linear)", low=0, low_open=True
    )
    weight_decay: float = option(1e-2, "weight decay (decoupled with adamw, an L2 term of the gradient with adam)", low=0)
    optimizer: str = option("adamw", "optimiser", choices=("adamw", "adam"))
    amsgrad: bool = option(False, "the AMSGrad variant of the optimiser (as PANNs trains)")
    schedule: str = option("cosine", "learning-rate schedule after the warm-up", choices=("cosine", "step", "constant"))
    warmup_epochs: float = option(1.0, "epochs of linear learning-rate warm-up", low=0)
    step_epochs: int = option(10, "--schedule step: epochs between two learning-rate drops", low=1)
    gamma: float = option(0.1, "--schedule step: factor of each learning-rate drop", low=0, low_open=True)
    mixup: float = option(0.0, "mixup alpha (0 = off); --mixup-on says what is mixed", metavar="ALPHA", low=0)
    mixup_on: str = option(
        "waveform", "what mixup mixes: waveforms before the model (every model) or log-mel spectrograms after "
        "SpecAugment inside the model (PANNs; models with a log-mel front-end)", choices=("waveform", "logmel"),
    )
    speed_perturb: float = option(
        0.0, "random speed change of training clips by up to this fraction, e.g. 0.1 (0 = off)",
        metavar="FRACTION", low=0, high=1, high_open=True,
    )
    time_shift: bool = option(
        False, "place training files shorter than a clip at a random offset inside the zero-padded clip "
        "instead of at its start (a random time shift; longer files are cropped at random anyway)",
    )
    label_smoothing: float = option(0.0, "label smoothing of single-label cross-entropy", low=0, high=1, high_open=True)
    ema: float = option(
        0.0, "exponential moving average of the weights, e.g. 0.995 (0 = off); validation, model selection "
        "and the test use the average", metavar="DECAY", low=0, high=1, high_open=True,
    )
    balanced: bool = option(False, "PANNs balanced sampler (each class equally often)")
    batch_by_length: bool = option(
        False, "batch training files of similar length and cut each batch to its shortest file instead of "
        "zero-padding short files to the clip length; files shorter than a clip are then scored at their own "
        "length in every command",
    )
    val_fraction: float = option(
        0.0, "validation share of the training folds, held out to choose the epoch, stop early (--patience) and "
        "weigh the statistics head (0 = none: train on all of them and keep the last epoch)", low=0, high=1, high_open=True,
    )
    val_groups: bool = option(
        True, "with groups (speakers...): hold out whole training groups for validation, or a random part of "
        "every training group (trains on all training groups)", flag="--val-split", values={"groups": True, "random": False},
    )
    patience: int = option(8, "early-stopping patience in epochs, with a validation split (--val-fraction) (0 = off)", low=0)
    checkpoint: str | None = option(None, "start from these weights (official PANNs file or ours)")
    mode: str | None = option(
        None, "transfer mode; linear = frozen backbone (default: finetune with --checkpoint, else scratch)",
        choices=("scratch", "finetune", "linear"),
    )
    eval_windows: bool | None = option(
        None, "score test files with sliding windows averaged per file (auto: when files are longer than a clip)",
        values={"auto": None, "yes": True, "no": False},
    )
    adapt_bn: bool = option(
        False, "also re-estimate BatchNorm statistics on each test fold's unlabelled audio before scoring it "
        "(transductive test-time adaptation; plain scores kept as *_unadapted)",
    )
    adapt_im: bool = option(
        False, "--adapt-bn, then also train the BatchNorm scales/shifts on each test fold's unlabelled audio by "
        "information maximisation (confident predictions, classes used evenly; SHOT objective). Transductive; "
        "assumes the test audio covers the classes roughly evenly; single-label only. BatchNorm-only scores kept as *_adabn",
    )
    stats_head: int = option(
        20, "late-fused MFCC-statistics classifier of the compact CNNs: N MFCCs, fitted after training on the "
        "training part and averaged with the CNN, its share chosen on the validation split, or 0.5 without one (0 = off; single-label data)", metavar="N", low=0,
    )
    stats_head_features: int = option(
        1024, "the statistics head reads N random Fourier features of the MFCC statistics (an RBF kernel's "
        "approximation, its width chosen by the head's inner cross-validation); 0 = a linear head", metavar="N", low=0,
    )
    ensemble: int = option(1, "train N models per fold (different seeds) and average their probabilities", metavar="N", low=1)
    seed: int = option(0, "random seed (fold i trains with seed + i)")
    accelerator: str = option("cpu", "Lightning accelerator (cpu, gpu, auto)", runtime=True)
    devices: int | str = option(1, "Lightning devices (e.g. 2, or 'auto')", runtime=True)
    strategy: str = option("auto", "Lightning strategy (e.g. ddp)", runtime=True)
    precision: str = option(
        "auto", "Lightning precision (32-true, bf16-mixed, 16-mixed); auto = bf16-mixed (bfloat16 autocast, float32 "
        "weights) when training on a CPU with native bfloat16 (avx512_bf16 or amx_bf16), else 32-true",
    )
    num_workers: int = option(0, "data loader workers", low=0, runtime=True)
    progress: bool = option(True, "no progress bars", flag="--no-progress", runtime=True)
    logger: str = option(
        "csv", "training curves: Lightning's CSV logger or TensorBoard (needs the tensorboard package), "
        "in OUT/fold_<k>/logs", choices=("csv", "tensorboard"), runtime=True,
    )

    # fields that may differ between an interrupted run and its --resume (set below: the
    # fields declared with runtime=True)
    RUNTIME_FIELDS: typing.ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        for f, opt, _ in config_options(type(self)):
            value = getattr(self, f.name)
            if opt.choices is not None and value is not None and value not in opt.choices:
                raise ValueError(f"{f.name} must be {' or '.join(map(repr, opt.choices))}, got {value!r}")
        if self.precision == "auto":
            self.precision = auto_precision(self.accelerator)
        if self.mode is None:
            self.mode = "finetune" if self.checkpoint else "scratch"
        if self.lr is None:  # fine-tuning pretrained weights needs a much smaller step
            self.lr = {"scratch": 1e-3, "finetune": 1e-4, "linear": 1e-3}.get(self.mode, 1e-3)
        if self.mode not in ("scratch", "finetune", "linear"):
            raise ValueError(f"mode must be 'scratch', 'finetune' or 'linear', got {self.mode!r}")
        if self.mode in ("finetune", "linear") and not self.checkpoint:
            raise ValueError(f"--mode {self.mode} needs --checkpoint (the pretrained weights to start from)")
        if self.mode == "scratch" and self.checkpoint:
            raise ValueError("--mode scratch trains from random weights; drop --checkpoint or use --mode finetune|linear")
        if self.ensemble < 1:
            raise ValueError(f"ensemble must be >= 1, got {self.ensemble}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs} and {self.batch_size}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1) (0 = off), got {self.ema}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.time_shift and self.batch_by_length:
            raise ValueError("--time-shift places short files inside a zero-padded clip; --batch-by-length pads "
                             "nothing (drop one of the two flags)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def differences(self, other: TrainConfig) -> list[str]:
        """Fields (other than runtime ones) whose values differ, as ``"name: a != b"``."""
        a, b = self.to_dict(), other.to_dict()
        return [f"{k}: {a[k]!r} != {b[k]!r}" for k in a if k not in self.RUNTIME_FIELDS and a[k] != b[k]]


TrainConfig.RUNTIME_FIELDS = tuple(f.name for f, opt, _ in config_options(TrainConfig) if opt.runtime)
