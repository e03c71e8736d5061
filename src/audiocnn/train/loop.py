"""Training one model on one fold: data loaders, the Lightning ``Trainer``, model selection on the
validation split, atomic checkpoints, resume, and the export of the best model."""

from __future__ import annotations

import logging
import os
import signal
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from audiocnn.atomic import write_with
from audiocnn.errors import require_extra

try:
    import lightning as L
except ImportError:  # the `train` extra: say so
    require_extra("lightning", "train", "training")
    raise
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from audiocnn.audio import Windowing, crop_or_pad
from audiocnn.models import ModelBundle, create_model, load_model, save_checkpoint, save_pretrained
from audiocnn.models.base import AudioModel
from audiocnn.models.bundle import INIT_KWARGS, generic_labels
from audiocnn.train.config import TrainConfig
from audiocnn.train.determinism import EpochCrops, EpochSampler, LengthBatchSampler, crop_to_shortest
from audiocnn.train.module import AudioClassifier
from audiocnn.train.records import training_logger
from audiocnn.train.stats_head import fit_fused_head, has_stats_head

__all__ = ["AtomicCheckpointIO", "FoldFit", "build_model", "fit_fold", "fold_bundle", "load_lightning_weights", "model_args",
           "trainer_schedule"]

log = logging.getLogger(__name__)

# Lightning's own "atomic" save writes through an fsspec transaction whose temporary file lives in
# the system temp dir and is moved (copied across file systems) on commit; we write the temporary
# file beside the target and os.replace() it, which is atomic on POSIX and Windows.


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to ``.<name>.tmp<pid>`` in the target folder, then ``os.replace``: a process
    killed mid-write leaves the previous checkpoint intact."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        write_with(path, lambda tmp: torch.save(checkpoint, tmp))


class _EpochHistory(Callback):
    # Lightning runs checkpoint callbacks after the others, so the record is in the module's
    # history before "last.ckpt" is written (and survives a resume).
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        pl_module.record_epoch_end()


def trainer_schedule(config: TrainConfig) -> dict:
    """The ``lightning.Trainer`` arguments of the schedule: ``config.epochs`` epochs, or
    ``config.max_steps`` optimiser steps whatever the epochs (the learning-rate schedule spans
    the same steps, :func:`~audiocnn.train.module.lr_lambda`); a validation at every epoch's
    end, or every ``config.val_every`` steps across epoch ends (as PANNs evaluates every 2,000
    iterations)."""
    steps = config.max_steps
    kw: dict = {"max_epochs": -1, "max_steps": steps} if steps > 0 else {"max_epochs": config.epochs}
    if config.val_every:
        kw.update(val_check_interval=config.val_every, check_val_every_n_epoch=None)
    return kw


class _StaysStopped(Callback):
    # Early stopping's counters come back from last.ckpt but Lightning's stop flag does not: a fit
    # resumed from the epoch that stopped it would train one epoch more than the uninterrupted one.
    def on_train_start(self, trainer, pl_module) -> None:
        for cb in trainer.callbacks:
            if isinstance(cb, EarlyStopping) and cb.patience > 0 and cb.wait_count >= cb.patience:
                trainer.should_stop = True


def _resume_epoch(last: Path) -> int | None:
    """The epoch a fit resumed from ``last`` starts with, or None when the file cannot be read
    (damaged by something other than our atomic writes): it is then moved aside to
    ``last.ckpt.damaged`` with a warning, and the fold starts again."""
    try:
        return int(torch.load(last, map_location="cpu", weights_only=True, mmap=True)["epoch"]) + 1
    except Exception as e:  # noqa: BLE001 - any unreadable checkpoint is treated alike
        aside = last.with_name(last.name + ".damaged")
        os.replace(last, aside)
        log.warning("%s cannot be read (%s: %s); moved to %s, training this fold from its start", last, type(e).__name__, e, aside.name)
        return None


@dataclass
class FoldFit:
    """Result of :func:`fit_fold`: the model with the selected weights and how it got there."""

    model: AudioModel
    history: list[dict]
    best_epoch: int
    best_val: dict = field(default_factory=dict)
    selection: str = "val_score"
    stats_head: dict | None = None  # fit_fused_head's record when the model has a stats_head


def build_model(config: TrainConfig, num_classes: int, labels: tuple[str, ...] | None = None,
                multilabel: bool | None = None) -> AudioModel:
    """The model a fold starts from: ``config.model`` with ``config.model_kwargs``, from the
    transfer checkpoint when there is one.

    A checkpoint whose class count differs gets a new head; one of ours with the same count but
    other labels also gets a new head (its rows would mean other classes). When
    ``multilabel is False`` (single-label data that :func:`fit_fold` holds in memory) and the model
    trains from scratch, a model that has one gets ``config.stats_head`` as its ``stats_head``
    (a late-fused MFCC-statistics classifier, :mod:`audiocnn.train.stats_head`) and
    ``config.stats_head_features`` as its ``head_features``, unless ``--model-arg`` says otherwise.
    """
    kwargs = dict(config.model_kwargs)
    if config.checkpoint and config.mode != "scratch":
        model, bundle = load_model(config.checkpoint, config.model, num_classes=num_classes, warn_random=False, **kwargs)
        same_count = bundle.num_classes == num_classes
        if labels is not None and same_count and list(bundle.labels) != list(labels) and not generic_labels(bundle.labels):
            model.reset_classifier(num_classes)
    else:
        if multilabel is False and config.stats_head and "stats_head" not in kwargs:
            with torch.random.fork_rng():  # the probe draws no weights: the CNN starts as it would without a head
                takes_head = hasattr(create_model(config.model, num_classes=num_classes, **kwargs), "stats_head")
            if takes_head:
                kwargs["stats_head"] = config.stats_head
        if kwargs.get("stats_head"):  # also when --model-arg stats_head=N asks for it
            kwargs.setdefault("head_features", config.stats_head_features)
        model = create_model(config.model, num_classes=num_classes, **kwargs)
    return model


def model_args(model: AudioModel, config: TrainConfig) -> dict:
    """The architecture arguments a bundle records: ``config.model_kwargs`` and the
    ``stats_head`` and ``head_features`` :func:`build_model` added."""
    args = {k: v for k, v in config.model_kwargs.items() if k not in INIT_KWARGS}
    if has_stats_head(model):
        args["stats_head"] = int(model.stats_head)
        args["head_features"] = int(model.head_features)
    return args


def fold_bundle(model: AudioModel, config: TrainConfig, labels, multilabel: bool, windowing: Windowing, **training) -> ModelBundle:
    """The bundle saved with a model trained by :func:`fit_fold`."""
    return ModelBundle.for_model(
        model,
        labels=labels,
        task="multi-label" if multilabel else "single-label",
        clip_seconds=windowing.clip_seconds,
        hop_seconds=windowing.hop_seconds,
        pad_short=windowing.pad_short,
        aggregate=windowing.aggregate,
        model_args=model_args(model, config),
        training={"config": config.to_dict(), **training},
    )


def load_lightning_weights(model: AudioModel, path: str | os.PathLike) -> None:
    """Load a Lightning checkpoint's weights into ``model``: the weight average
    (``ema_model.module.``) when the run kept one, else the ``model.``-prefixed weights."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    state = obj["state_dict"]
    prefix = "ema_model.module." if any(k.startswith("ema_model.module.") for k in state) else "model."
    sd = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    model.load_state_dict(sd)


def _loader(dataset, config: TrainConfig, *, train: bool, targets: np.ndarray | None = None, seed: int = 0,
            min_samples: int = 1) -> DataLoader:
    kw = dict(num_workers=config.num_workers, persistent_workers=config.num_workers > 0)
    if config.batch_by_length:
        return _length_loader(dataset, config, train=train, targets=targets, seed=seed, min_samples=min_samples, **kw)
    kw["batch_size"] = config.batch_size
    if not train:
        return DataLoader(dataset, shuffle=False, **kw)
    g = torch.Generator()  # only for the loader's own draws (worker base seeds)
    g.manual_seed(seed)
    # order, crops and the epoch's global seeds from (seed, epoch): a resumed fit repeats the uninterrupted one
    sampler = EpochSampler(len(dataset), seed, _balanced(config, targets, len(dataset), seed))
    # drop the last incomplete batch (BatchNorm on a batch of 1 fails in training mode)
    return DataLoader(EpochCrops(dataset, seed, time_shift=config.time_shift), sampler=sampler, generator=g, drop_last=len(dataset) > config.batch_size, **kw)


def _balanced(config: TrainConfig, targets, n: int, seed: int):
    if not config.balanced:
        return None
    from audiocnn.data import BalancedSampler

    return BalancedSampler(targets, num_samples=n, seed=seed)


class _CentreClips(torch.utils.data.Dataset):
    """Validation items of ``--batch-by-length``: the centre crop of at most a clip, a shorter
    file whole (``(waveform, target, 0.5)`` for :func:`crop_to_shortest`)."""

    def __init__(self, clips):
        self.clips = clips

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int):
        x = self.clips.waveform(i)
        if x.shape[0] > self.clips.clip_samples:
            x = crop_or_pad(x, self.clips.clip_samples, mode="center")
        return torch.tensor(x, dtype=torch.float32), self.clips.target(i), 0.5


def _length_loader(dataset, config: TrainConfig, *, train: bool, targets, seed: int, min_samples: int, **kw) -> DataLoader:
    """``--batch-by-length``: training batches of similar lengths cut to their shortest file;
    validation batches of files of one length each (so every file is scored whole, unpadded)."""
    lengths = np.minimum([dataset.waveform(i).shape[0] for i in range(len(dataset))], dataset.clip_samples)
    collate = partial(crop_to_shortest, min_samples=min_samples)
    if not train:
        order = np.argsort(lengths, kind="stable")
        batches: list[list[int]] = []
        for i in order.tolist():
            if batches and len(batches[-1]) < config.batch_size and lengths[batches[-1][0]] == lengths[i]:
                batches[-1].append(i)
            else:
                batches.append([i])
        return DataLoader(_CentreClips(dataset), batch_sampler=batches, collate_fn=collate, **kw)
    g = torch.Generator()  # only for the loader's own draws (worker base seeds)
    g.manual_seed(seed)
    sampler = LengthBatchSampler(lengths, config.batch_size, seed, _balanced(config, targets, len(dataset), seed),
                                 drop_last=len(dataset) > config.batch_size)
    return DataLoader(EpochCrops(dataset, seed, pad=False), batch_sampler=sampler, collate_fn=collate, generator=g, **kw)


def fit_fold(
    manifest,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    config: TrainConfig,
    cache,
    clip_seconds: float,
    out_dir: str | os.PathLike,
    *,
    resume: bool = False,
    seed: int | None = None,
    extra_callbacks: list[Callback] | None = None,
    export_metadata: dict | None = None,
    windowing: Windowing | None = None,
) -> FoldFit:
    """Train ``config.model`` on ``manifest`` items ``train_idx``, selecting the epoch with the
    best validation score on ``val_idx`` (which must come from the training folds; may be empty).

    Writes ``out_dir/lightning/{last,best}.ckpt`` (atomic; ``resume`` continues from ``last``),
    ``out_dir/best.pth`` and the model folder ``out_dir/model/`` (safetensors + ``config.json``),
    both with the model's :class:`~audiocnn.models.ModelBundle` (labels, task, sample rate, the
    ``windowing`` used to score it: default windows of ``clip_seconds`` every half clip), so
    that ``--checkpoint`` alone is enough for every other command.
    Without a validation split (``--val-fraction 0``, the default, or too little data) the
    last epoch is kept. The order, crops and
    random draws of each epoch depend on ``(seed, epoch)`` only (:mod:`audiocnn.train.determinism`),
    so a fit killed at any point and resumed ends with the weights of an uninterrupted one; an
    unreadable ``last.ckpt`` is moved aside and the fold starts again.
    """
    from audiocnn.data import ClipDataset

    out_dir = Path(out_dir)
    seed = config.seed if seed is None else seed
    train_idx, val_idx = np.asarray(train_idx), np.asarray(val_idx)
    if np.intersect1d(train_idx, val_idx).size:
        raise ValueError("training and validation indices overlap")
    L.seed_everything(seed, workers=True, verbose=False)
    classes = tuple(manifest.classes)
    model = build_model(config, len(classes), classes, multilabel=bool(manifest.multilabel))
    if manifest.multilabel and has_stats_head(model):
        raise ValueError("stats_head (the late-fused MFCC-statistics classifier) is for single-label data; "
                         "drop --model-arg stats_head for tagging data")
    train_m = manifest.subset(train_idx)
    train_ds = ClipDataset(train_m, cache, clip_seconds, train=True, seed=seed)
    min_samples = int(model.info.min_samples)
    train_dl = _loader(train_ds, config, train=True, targets=train_m.targets(), seed=seed, min_samples=min_samples)
    val_dl = None
    if len(val_idx):
        val_ds = ClipDataset(manifest.subset(val_idx), cache, clip_seconds, train=False, seed=seed)
        val_dl = _loader(val_ds, config, train=False, min_samples=min_samples)
    model.train()  # create_model returns eval mode; Lightning keeps the modes it finds
    module = AudioClassifier(model, config, manifest.multilabel, steps_per_epoch=len(train_dl))

    for name in ("lightning.pytorch", "lightning.fabric"):  # "GPU available: False" etc. every fold
        logging.getLogger(name).setLevel(logging.WARNING)
    ckpt_dir = out_dir / "lightning"
    ckpt_cb = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor="val_score" if val_dl is not None else None,
        mode="max",
        save_top_k=1,
        save_on_train_epoch_end=not config.val_every,  # with val_every: after each validation
        enable_version_counter=False,
    )
    # last.ckpt at every epoch end: its own callback, because save_last=True on the one above
    # writes it only in the epochs that improve the best (Lightning >= 2.5)
    last_cb = ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, save_on_train_epoch_end=True, enable_version_counter=False)
    callbacks: list[Callback] = [_EpochHistory(), _StaysStopped(), ckpt_cb, last_cb]
    if val_dl is not None and config.patience > 0:
        callbacks.append(EarlyStopping(monitor="val_score", mode="max", patience=config.patience,
                                       check_on_train_epoch_end=not config.val_every))
    callbacks += list(extra_callbacks or [])
    trainer = L.Trainer(
        **trainer_schedule(config),
        accelerator=config.accelerator,
        devices=config.devices,
        strategy=config.strategy,
        precision=config.precision,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        logger=training_logger(config.logger, out_dir),
        default_root_dir=str(out_dir),
        num_sanity_val_steps=0,
        enable_model_summary=False,
        enable_progress_bar=config.progress,
        log_every_n_steps=1,
    )
    if config.batch_by_length and trainer.world_size > 1:
        raise ValueError(f"--batch-by-length batches on one process; drop it to train on {trainer.world_size} "
                         "(its batches of similar lengths are not split across processes)")
    last = ckpt_dir / "last.ckpt"
    start = _resume_epoch(last) if resume and last.exists() else None
    ckpt_path = str(last) if start is not None else None
    if ckpt_path:
        log.info("resuming %s from %s (epoch %d)", out_dir.name, last, start + 1)
        (train_dl.batch_sampler if config.batch_by_length else train_dl.sampler).start_at(start)
    with warnings.catch_warnings():
        # small datasets: the loader has few batches; Lightning warns about it every fold
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*number of training batches.*")
        # no validation split (the default): Lightning warns that validation_step goes unused
        warnings.filterwarnings("ignore", message=".*validation_step.* but have no `val_dataloader`.*")
        warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")  # resume  # Lightning vs new torch
        # the validation metric is computed from all ranks' gathered outputs, so it is already global
        warnings.filterwarnings("ignore", message=".*recommended to use `self.log\\('val_.*")
        try:
            trainer.fit(module, train_dl, val_dl, ckpt_path=ckpt_path)
        except SystemExit:
            if not trainer.interrupted:
                raise
            # Lightning answers Ctrl-C with exit(1) and SIGINT ignored; give the caller the interrupt
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt from None

    history = list(module.history)
    if not history and last.exists():  # ddp_spawn trains in child processes: read it back
        history = list(torch.load(last, map_location="cpu", weights_only=True).get("audiocnn_history", []))
    best_path = ckpt_cb.best_model_path or str(last)
    if best_path and Path(best_path).exists():
        load_lightning_weights(model, best_path)
    if val_dl is not None and history and any("val_score" in h for h in history):
        best = max((h for h in history if "val_score" in h), key=lambda h: h["val_score"])
        best_epoch, best_val = best["epoch"], {k: best[k] for k in ("val_loss", "val_metric", "val_score") if k in best}
        selection = "val_score"
    else:
        best_epoch, best_val, selection = (history[-1]["epoch"] if history else config.epochs), {}, "last epoch (no validation split)"
    model.eval()
    windowing = windowing or Windowing(float(clip_seconds), float(clip_seconds) / 2, pad_short=not config.batch_by_length)
    head = None
    if has_stats_head(model):  # the late-fused classifier; its share chosen on the validation split
        tr_m, va_m = manifest.subset(train_idx), manifest.subset(val_idx)
        head = fit_fused_head(model, [cache.get(it.path) for it in tr_m.items], tr_m.label_indices(),
                              [cache.get(it.path) for it in va_m.items], va_m.label_indices(), windowing, seed=seed)
    if trainer.is_global_zero:
        extra = {"stats_head": head} if head else {}
        bundle = fold_bundle(model, config, classes, bool(manifest.multilabel), windowing, best_epoch=int(best_epoch),
                             **extra, **(export_metadata or {}))
        save_checkpoint(model, out_dir / "best.pth", bundle)
        save_pretrained(model, bundle, out_dir / "model")
    return FoldFit(model=model, history=history, best_epoch=int(best_epoch), best_val=best_val, selection=selection, stats_head=head)
