"""The training configuration: one dataclass, saved with every run and checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

__all__ = ["DEFAULTS_NOTE", "TrainConfig"]

DEFAULTS_NOTE = "defaults chosen by measurement on speech, sound events and music-like sounds: see docs/training.md"


@dataclass
class TrainConfig:
    """Everything that decides a training run.

    Attributes:
        model: registry name (``audiocnn models``); ``model_kwargs`` go to ``create_model``.
        clip_seconds: training/evaluation clip length; ``None`` = automatic (95th percentile of
            the file durations, rounded up to 0.25 s, between 0.5 and 10 s).
        epochs, batch_size, lr, weight_decay: the usual; ``optimizer`` ``"adamw"`` or ``"adam"``.
            ``lr=None``: 3e-3 from scratch, 1e-4 fine-tuning, 1e-3 linear probing.
        schedule: ``"cosine"`` (to 0 after warm-up), ``"step"`` (x ``gamma`` every
            ``step_epochs``) or ``"constant"``; ``warmup_epochs`` of linear warm-up first.
        mixup: Beta(alpha, alpha) mixup of waveforms and targets; 0 disables it.
        speed_perturb: random speed change of each training waveform by up to this fraction
            (0.1: factors in [0.9, 1.1]); 0 disables it.
        label_smoothing: for single-label cross-entropy.
        ema: decay of an exponential moving average of the weights (and BatchNorm statistics),
            updated every step with a warm-up (decay ``min(ema, (1 + n) / (10 + n))`` at step
            ``n``); validation, model selection, the saved model and the test use the average.
            0 disables it. It smooths the epoch-to-epoch swings of small-data runs.
        balanced: PANNs balanced sampler (each class equally often) instead of shuffling.
        val_fraction: part of the training folds held out for early stopping and model selection.
        val_groups: when the data has groups (speakers...), hold out whole groups for
            validation (a group-independent choice of epoch, at the price of training on one
            group fewer); ``False`` takes a stratified random part of every training group.
        patience: early-stopping patience in epochs on the validation score; 0 disables it.
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
        ensemble: members per fold: each test fold is scored with the probabilities averaged over
            this many models trained on the same split with seeds ``seed + i + 1000 j``.
        seed: seeds everything; fold ``i`` is trained with ``seed + i``.
        accelerator, devices, strategy, precision: passed to ``lightning.Trainer``.
    """

    model: str = "cnn6_lite"
    model_kwargs: dict = field(default_factory=dict)
    clip_seconds: float | None = None
    epochs: int = 30
    batch_size: int = 16
    lr: float | None = None
    weight_decay: float = 1e-2
    optimizer: str = "adamw"
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    step_epochs: int = 10
    gamma: float = 0.1
    mixup: float = 0.0
    speed_perturb: float = 0.0
    label_smoothing: float = 0.0
    ema: float = 0.0
    balanced: bool = False
    val_fraction: float = 0.1
    val_groups: bool = True
    patience: int = 8
    checkpoint: str | None = None
    mode: str | None = None
    eval_windows: bool | None = None
    adapt_bn: bool = False
    adapt_im: bool = False
    ensemble: int = 1
    seed: int = 0
    accelerator: str = "cpu"
    devices: int | str = 1
    strategy: str = "auto"
    precision: str = "32-true"
    num_workers: int = 0
    progress: bool = True

    # fields that may differ between an interrupted run and its --resume
    RUNTIME_FIELDS = ("accelerator", "devices", "strategy", "num_workers", "progress")

    def __post_init__(self):
        if self.optimizer not in ("adamw", "adam"):
            raise ValueError(f"optimizer must be 'adamw' or 'adam', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "step", "constant"):
            raise ValueError(f"schedule must be 'cosine', 'step' or 'constant', got {self.schedule!r}")
        if self.mode is None:
            self.mode = "finetune" if self.checkpoint else "scratch"
        if self.lr is None:  # fine-tuning pretrained weights needs a much smaller step
            self.lr = {"scratch": 3e-3, "finetune": 1e-4, "linear": 1e-3}.get(self.mode, 3e-3)
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
