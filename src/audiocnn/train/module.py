"""The LightningModule that trains any registered :class:`~audiocnn.models.AudioModel`."""

from __future__ import annotations

import copy
import inspect
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audiocnn.errors import UsageError, require_extra

try:
    import lightning as L
except ImportError:  # the `train` extra: say so
    require_extra("lightning", "train", "training")
    raise
from audiocnn.metrics import accuracy, mean_average_precision
from audiocnn.features import Mixup, SpeedPerturb
from audiocnn.models.base import AudioModel
from audiocnn.train.config import TrainConfig

__all__ = ["AudioClassifier", "WeightAverage", "check_mixup_choice", "lr_lambda", "mixes_features"]


def lr_lambda(config: TrainConfig, steps_per_epoch: int):
    """Per-step multiplier of the base learning rate: linear warm-up, then cosine/step/constant."""
    warmup = int(round(config.warmup_epochs * steps_per_epoch))
    total = max(1, config.max_steps or config.epochs * steps_per_epoch)

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.schedule == "cosine":
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        if config.schedule == "step":
            return config.gamma ** (step // max(1, config.step_epochs * steps_per_epoch))
        return 1.0

    return f


class WeightAverage(nn.Module):
    """Exponential moving average of a model's weights and buffers (a frozen copy, ``module``).

    ``update(model)`` after every optimiser step: floating-point entries of the state dict move
    towards the model's by ``1 - d`` with ``d = min(decay, (1 + n) / (10 + n))`` at update ``n``
    (so the first updates follow the model closely); integer buffers (BatchNorm's
    ``num_batches_tracked``) are copied.
    """

    def __init__(self, model: nn.Module, decay: float):
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).requires_grad_(False)
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        n = int(self.num_updates)
        d = min(self.decay, (1.0 + n) / (10.0 + n))
        src = model.state_dict()
        for k, avg in self.module.state_dict().items():
            new = src[k].detach()
            if avg.dtype.is_floating_point:
                avg.lerp_(new.to(avg.dtype), 1.0 - d)
            else:
                avg.copy_(new)
        self.num_updates += 1

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


class AudioClassifier(L.LightningModule):
    """Wraps ``model`` for single-label (cross-entropy on logits, soft targets under mixup) or
    multi-label training (BCE on the clip logits, also for frame-level models).

    Batches are ``(waveform (B, T), target)`` with ``target`` a class index (single-label) or a
    multi-hot float vector. Every epoch the validation loss, metric (accuracy or mAP) and the
    selection score ``val_score = metric - 1e-4 * loss`` (the loss only breaks ties) are logged;
    ``history`` keeps one record per epoch and travels inside Lightning checkpoints (resume).
    With ``config.ema`` a :class:`WeightAverage` (``ema_model``) follows the weights; validation
    scores it, and :func:`~audiocnn.train.loop.load_lightning_weights` loads it.
    """

    def __init__(self, model: AudioModel, config: TrainConfig, multilabel: bool, steps_per_epoch: int):
        super().__init__()
        self.model = model
        self.config = config
        self.multilabel = multilabel
        self.steps_per_epoch = max(1, steps_per_epoch)
        check_mixup_choice(config, model)
        self.mixup = Mixup(config.mixup)
        self.speed_perturb = SpeedPerturb(config.speed_perturb)
        self.history: list[dict] = []
        self._train_losses: list[float] = []
        self._val_out: list[torch.Tensor] = []
        self._val_tgt: list[torch.Tensor] = []
        self._last_val: dict = {}
        if config.mode == "linear":
            model.freeze_backbone()
        # after freezing, so the copy's parameters are frozen too (it is never trained directly)
        self.ema_model = WeightAverage(model, config.ema) if config.ema > 0 else None

    # -- training ----------------------------------------------------------------------------
    def _channels_last(self) -> bool:
        """Whether the fit keeps the model's 4-D weights channels-last: the PANNs-style CNNs
        (:class:`~audiocnn.models.panns.PannsCnn` and the compact CNNs) trained by one process on
        a CPU, where it was measured (a multi-process fit keeps the layout its gradient buckets
        were made for)."""
        from audiocnn.models.panns import PannsCnn

        return self.device.type == "cpu" and isinstance(self.model, PannsCnn) and self.trainer.world_size == 1

    def on_fit_start(self) -> None:
        # oneDNN's CPU convolutions (forward and backward) run faster on channels-last maps: a
        # cnn10_lite training step on 10-s clips in bf16 autocast takes 0.18 s against 0.20 s
        # (docs/results.md). The values are the same up to float rounding; the weights go back to
        # the standard layout when the fit ends, so checkpoints and exports see no difference.
        if self._channels_last():
            self.model.to(memory_format=torch.channels_last)

    def on_fit_end(self) -> None:
        if self._channels_last():
            self.model.to(memory_format=torch.contiguous_format)

    def on_train_epoch_start(self) -> None:
        self._train_losses = []
        if self.config.mode == "linear":
            # a frozen backbone keeps its normalisation statistics and has no dropout noise
            self.model.eval()
            self.model.get_classifier().train()

    def _soft_targets(self, target: torch.Tensor, num_classes: int) -> torch.Tensor:
        if self.multilabel:
            return target.float()
        return F.one_hot(target.long(), num_classes).float()

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.multilabel:
            return F.binary_cross_entropy_with_logits(logits, targets)
        return F.cross_entropy(logits, targets, label_smoothing=self.config.label_smoothing)

    def training_step(self, batch, batch_idx):
        x, y = batch
        targets = self._soft_targets(y, self.model.num_classes)
        self.mixup.train()
        self.speed_perturb.train()
        x = self.speed_perturb(x)
        plan = self.mixup.plan(x.shape[0])
        if plan is None:
            logits = self.model(x)["logits"]
        elif self.config.mixup_on == "logmel":  # inside the model, after SpecAugment (PANNs)
            targets = plan(targets)
            logits = self.model(x, mixup=plan)["logits"]
        else:
            x, targets = plan(x), plan(targets)
            logits = self.model(x)["logits"]
        loss = self._loss(logits, targets)
        self._train_losses.append(float(loss.detach()))
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=x.shape[0])
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        if self.ema_model is not None:
            self.ema_model.update(self.model)

    def scored_model(self) -> nn.Module:
        """The model validation scores: the weight average when there is one."""
        return self.ema_model.module if self.ema_model is not None else self.model

    # -- validation --------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._val_out, self._val_tgt = [], []

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self._val_out.append(self.scored_model()(x)["logits"].detach())
        self._val_tgt.append(y.detach())

    def on_validation_epoch_end(self) -> None:
        if not self._val_out:
            return
        logits = torch.cat(self._val_out)
        tgt = torch.cat(self._val_tgt)
        if self.trainer.world_size > 1:  # every rank scores the whole validation set
            logits = self.all_gather(logits).reshape(-1, logits.shape[-1])
            tgt = self.all_gather(tgt).reshape(-1, *tgt.shape[1:])
        targets = self._soft_targets(tgt, logits.shape[-1])
        loss = float(self._loss(logits.float(), targets))
        if self.multilabel:
            metric = mean_average_precision(tgt.float().cpu().numpy(), torch.sigmoid(logits.float()).cpu().numpy())
            metric = 0.0 if np.isnan(metric) else metric
        else:
            metric = accuracy(tgt.cpu().numpy(), logits.argmax(-1).cpu().numpy())
        score = metric - 1e-4 * min(loss, 100.0)
        self._last_val = {"val_loss": loss, "val_metric": metric, "val_score": score}
        self.log("val_loss", loss, prog_bar=True, sync_dist=False)
        self.log("val_metric", metric, prog_bar=True)
        self.log("val_score", score)
        self.record_validation()

    # -- bookkeeping -------------------------------------------------------------------------
    def record_validation(self) -> None:
        """With ``config.val_every`` the history holds one record per validation (at ``step``,
        its ``train_loss`` the mean since the previous record); else one per epoch
        (:meth:`record_epoch_end`)."""
        if self.config.val_every and not self.trainer.sanity_checking:
            rec = self.end_of_epoch_record()
            rec["step"] = int(self.global_step)
            self.history.append(rec)
            self._train_losses = []

    def record_epoch_end(self) -> None:
        """Append the epoch's record to the history, unless it is kept per validation
        (``config.val_every``, :meth:`record_validation`). Called by the loops' callbacks at
        each training epoch's end."""
        if not self.config.val_every:
            self.history.append(self.end_of_epoch_record())

    def end_of_epoch_record(self) -> dict:
        rec = {
            "epoch": int(self.current_epoch) + 1,
            "train_loss": float(np.mean(self._train_losses)) if self._train_losses else float("nan"),
            "lr": float(self.trainer.optimizers[0].param_groups[0]["lr"]) if self.trainer.optimizers else float("nan"),
        }
        rec.update(self._last_val)
        self._last_val = {}
        return rec

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["audiocnn_history"] = list(self.history)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.history = list(checkpoint.get("audiocnn_history", []))

    # -- optimisation ------------------------------------------------------------------------
    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"{self.model.info.name}: no trainable parameters")
        # adamw: decoupled weight decay; adam: weight decay as an L2 term of the gradient (torch.optim.Adam)
        opt_cls = torch.optim.AdamW if self.config.optimizer == "adamw" else torch.optim.Adam
        opt = opt_cls(params, lr=self.config.lr, weight_decay=self.config.weight_decay, amsgrad=self.config.amsgrad)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(self.config, self.steps_per_epoch))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.model(x)


def mixes_features(model: nn.Module) -> bool:
    """Does ``model.forward`` take ``mixup`` (a :class:`~audiocnn.features.augment.MixPlan` applied
    to its log-mel after SpecAugment)? The PANNs log-mel families do."""
    return "mixup" in inspect.signature(model.forward).parameters


def check_mixup_choice(config: TrainConfig, model: nn.Module) -> None:
    """ValueError when ``config`` asks for log-mel mixup and ``model`` cannot do it."""
    if config.mixup > 0 and config.mixup_on == "logmel" and not mixes_features(model):
        raise UsageError(f"--mixup-on logmel: {config.model} takes no log-mel mixup in its forward "
                         "(the PANNs log-mel families do); use --mixup-on waveform")


def count_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
