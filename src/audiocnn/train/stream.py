"""Training on packed data (``audiocnn pack``): streamed tar shards or random-access HDF5, one or
many processes (Lightning DDP), resumable mid-epoch.

Memory is bounded by the loader (shuffle buffer per reader), not by the corpus. Validation
scores held-out shards with streaming metrics (score histograms summed over the ranks), so no
rank holds the validation set's score matrix. The position in the epoch travels inside the
Lightning checkpoint (:class:`ResumableLoader`), so ``resume=True`` continues where
``last.ckpt`` was written, mid-epoch included, with the batches an uninterrupted run would have
seen. docs/scaling.md has the multi-GPU / multi-node recipes.

Writes ``out/lightning/{best,last}.ckpt``, ``out/best.pth`` and ``out/model/`` (the bundle, as
:func:`~audiocnn.train.fit_fold` does), ``out/run.json`` (configuration, data, per-epoch
history) and ``out/train_steps.json`` (the loss of every step, averaged over the ranks).
"""

from __future__ import annotations

import ctypes
import json
import logging
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from audiocnn.atomic import write_json_atomic
from audiocnn.audio import Windowing
from audiocnn.data.shards import PackedClipDataset, RankSampler, ShardStream, load_index
from audiocnn.models import save_checkpoint, save_pretrained
from audiocnn.models.base import AudioModel
from audiocnn.train.config import TrainConfig
from audiocnn.train.records import run_environment, training_logger
from audiocnn.train.loop import AtomicCheckpointIO, build_model, fold_bundle, load_lightning_weights, trainer_schedule
from audiocnn.train.module import AudioClassifier

# after audiocnn.train.loop, which names the `train` extra when Lightning is missing
import lightning as L  # noqa: E402
from lightning.pytorch.callbacks import Callback, ModelCheckpoint  # noqa: E402

__all__ = ["ResumableLoader", "StreamFit", "StreamOptions", "StreamingClassifier", "fit_stream", "loader_kwargs", "reader_buffer", "release_freed_memory", "split_validation"]

log = logging.getLogger(__name__)



@dataclass
class StreamOptions:
    """Settings of streaming training that :class:`TrainConfig` does not hold.

    Attributes:
        shuffle_buffer: encoded clips held for shuffling by each process (tar), split among its
            loader workers (:func:`reader_buffer`): memory is about this times the packed size of
            a clip, whatever the number of workers.
        split: how readers share tar shards: ``"auto"``, ``"shards"`` or ``"samples"``
            (:class:`~audiocnn.data.shards.ShardStream`).
        val_data: a packed folder for validation; default: ``config.val_fraction`` of the
            shards, held out (none when there is a single shard).
        checkpoint_every: also write ``last.ckpt`` every this many steps (0: at epoch ends only).
        sync_batchnorm: BatchNorm statistics over the global batch (DDP).
        num_nodes: machines (Lightning ``num_nodes``).

    The schedule (``config.epochs``, or ``config.max_steps`` optimiser steps) is the
    :class:`~audiocnn.train.config.TrainConfig`'s, as for in-memory training.
    """

    shuffle_buffer: int = 512
    split: str = "auto"
    val_data: str | None = None
    checkpoint_every: int = 0
    sync_batchnorm: bool = False
    num_nodes: int = 1


@dataclass
class StreamFit:
    """Result of :func:`fit_stream`."""

    model: AudioModel
    history: list[dict]
    best_epoch: int
    best_val: dict = field(default_factory=dict)
    steps: list[float] = field(default_factory=list)


class ResumableLoader(DataLoader):
    """A DataLoader whose position in the epoch is saved in Lightning checkpoints.

    ``positioned`` (a :class:`~audiocnn.data.shards.ShardStream` or
    :class:`~audiocnn.data.shards.RankSampler`) knows its epoch and can skip batches; Lightning
    calls :meth:`load_state_dict` before it iterates a resumed epoch.
    """

    def __init__(self, dataset, positioned, **kwargs):
        super().__init__(dataset, **kwargs)
        self.positioned = positioned
        self.batches = 0

    def __iter__(self):
        self.batches = self.positioned.skip
        for batch in super().__iter__():
            self.batches += 1
            yield batch

    def state_dict(self) -> dict:
        return {"epoch": int(self.positioned.epoch), "batches": int(self.batches)}

    def load_state_dict(self, state: dict) -> None:
        self.positioned.set_position(int(state["epoch"]), int(state["batches"]))


class _EvalRanks(torch.utils.data.Sampler[int]):
    """Indices ``rank, rank + world, ...``: each rank scores its own part of the validation clips."""

    def __init__(self, n: int):
        self.n, self.rank, self.world_size = n, 0, 1

    def set_rank(self, rank: int, world_size: int) -> None:
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world_size))

    def __iter__(self):
        return iter(range(self.rank, self.n, self.world_size))


class StreamingClassifier(AudioClassifier):
    """:class:`AudioClassifier` whose validation keeps score histograms (multi-label) or counts
    (single-label) instead of all validation outputs, summed over the DDP ranks."""

    def on_validation_epoch_start(self) -> None:
        from audiocnn.streaming_metrics import StreamingAccuracy, StreamingTaggingMetrics

        self._hist = StreamingTaggingMetrics(self.model.num_classes) if self.multilabel else None
        self._counts = StreamingAccuracy()

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.scored_model()(x)["logits"].detach().float()
        loss_sum = float(self._loss(logits, self._soft_targets(y, logits.shape[-1]))) * x.shape[0]
        if self.multilabel:
            self._hist.update(y.cpu().numpy(), torch.sigmoid(logits).cpu().numpy())
            self._counts.update(np.zeros(x.shape[0]), np.zeros(x.shape[0]), loss_sum)
        else:
            self._counts.update(y.cpu().numpy(), logits.argmax(-1).cpu().numpy(), loss_sum)

    def on_validation_epoch_end(self) -> None:
        counts = self._counts.all_reduce().compute()
        if counts["clips"] == 0:
            return
        if self.multilabel:
            metric = self._hist.all_reduce().compute()["mAP"]
            metric = 0.0 if math.isnan(metric) else metric
        else:
            metric = counts["accuracy"]
        loss = counts["loss"]
        score = metric - 1e-4 * min(loss, 100.0)
        self._last_val = {"val_loss": loss, "val_metric": metric, "val_score": score}
        self.log("val_loss", loss, prog_bar=True)
        self.log("val_metric", metric, prog_bar=True)
        self.log("val_score", score)
        self.record_validation()


class _StreamBookkeeping(Callback):
    """Ranks and epochs for the loaders, the per-epoch history, and the loss of every step
    averaged over the ranks (kept in checkpoints, written to ``train_steps.json``)."""

    def __init__(self, train_positioned, others, out_dir: Path):
        self.train_positioned, self.others, self.out_dir = train_positioned, others, out_dir
        self.steps: list[float] = []

    def setup(self, trainer, pl_module, stage) -> None:
        for obj in [self.train_positioned, *self.others]:
            if hasattr(obj, "set_rank"):
                obj.set_rank(trainer.global_rank, trainer.world_size)
        pl_module.steps_per_epoch = max(1, self.train_positioned.steps)  # the schedule's epoch, known once ranks are

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        for obj in [self.train_positioned, *self.others]:
            if hasattr(obj, "set_epoch"):
                obj.set_epoch(trainer.current_epoch)
        release_freed_memory()  # before the epoch's loader workers are forked

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        release_freed_memory()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"].detach().float().clone() if isinstance(outputs, dict) else outputs.detach().float().clone()
        if trainer.world_size > 1:
            torch.distributed.all_reduce(loss)
            loss /= trainer.world_size
        self.steps.append(float(loss))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        pl_module.record_epoch_end()
        if trainer.is_global_zero:
            write_json_atomic(self.out_dir / "train_steps.json", {"loss": self.steps})

    def state_dict(self) -> dict:
        return {"steps": list(self.steps)}

    def load_state_dict(self, state: dict) -> None:
        self.steps = list(state.get("steps", []))


def split_validation(index, val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """``(train shard names, validation shard names)``: ``val_fraction`` of the shards (at least
    one) held out at random, none when there is a single shard or ``val_fraction`` is 0."""
    names = [s.name for s in index.shards]
    if len(names) < 2 or val_fraction <= 0:
        return names, []
    k = min(len(names) - 1, max(1, int(round(val_fraction * len(names)))))
    held = set(np.random.default_rng(seed).choice(len(names), size=k, replace=False).tolist())
    return [n for i, n in enumerate(names) if i not in held], [n for i, n in enumerate(names) if i in held]


def _clip_seconds(config: TrainConfig, index) -> float:
    if config.clip_seconds:
        return float(config.clip_seconds)
    if index.clip_seconds:
        return float(index.clip_seconds)
    mean = sum(s.seconds for s in index.shards) / max(index.num_samples, 1)
    return float(min(10.0, max(0.5, math.ceil(mean * 4) / 4)))  # the mean clip, to 0.25 s


def release_freed_memory() -> None:
    """Return the memory the C allocator holds free to the system (glibc's ``malloc_trim``; a no-op
    elsewhere). A training step's activations are freed to the allocator, which keeps them: loader
    workers forked afterwards (each epoch) would map that memory too, and the process tree's
    resident memory would grow by it per worker from the second epoch on (docs/scaling.md)."""
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL("libc.so.6")
            _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC = None


def loader_kwargs(num_workers: int) -> dict:
    """The DataLoader options of streaming training: ``num_workers`` forked workers, started
    afresh each epoch (after :func:`release_freed_memory`), one batch ready per worker (the
    loader outruns training, and every batch in flight is a decoded batch in shared memory)."""
    w = int(num_workers)
    return dict(num_workers=w, persistent_workers=False, multiprocessing_context="fork" if w and hasattr(os, "fork") else None,
                prefetch_factor=1 if w else None)


def reader_buffer(shuffle_buffer: int, num_workers: int) -> int:
    """Clips in each reader's shuffle buffer: a process's ``shuffle_buffer`` split among its
    ``num_workers`` loader workers (at least 1 each), so that the encoded clips a process holds do
    not grow with the number of workers."""
    return max(1, int(shuffle_buffer) // max(1, int(num_workers)))


def _loaders(index, val_index, train_names, val_names, config, opt: StreamOptions, clip: float):
    w = config.num_workers
    kw = loader_kwargs(w)
    others, val_dl = [], None
    if index.format == "tar":
        train_ds = ShardStream(index, clip, config.batch_size, train=True, shards=train_names, shuffle_buffer=reader_buffer(opt.shuffle_buffer, w),
                               balanced=config.balanced, seed=config.seed, split=opt.split, num_workers=w)
        train_dl = ResumableLoader(train_ds, train_ds, batch_size=None, **kw)
        positioned = train_ds
    else:
        train_ds = PackedClipDataset(index, clip, train=True, seed=config.seed, shards=train_names)
        targets = train_ds.targets() if config.balanced else None
        if targets is not None and not index.multilabel:
            targets = targets.argmax(1)
        positioned = RankSampler(len(train_ds), config.batch_size, targets=targets, seed=config.seed)
        train_dl = ResumableLoader(train_ds, positioned, batch_size=config.batch_size, sampler=positioned, **kw)
        others.append(train_ds)
    if val_index is not None and (val_names is None or val_names):
        if val_index.format == "tar":
            val_ds = ShardStream(val_index, clip, config.batch_size, train=False, shards=val_names, num_workers=w)
            val_dl = DataLoader(val_ds, batch_size=None, **kw)
        else:
            val_ds = PackedClipDataset(val_index, clip, train=False, shards=val_names)
            sampler = _EvalRanks(len(val_ds))
            val_dl = DataLoader(val_ds, batch_size=config.batch_size, sampler=sampler, **kw)
            val_ds = sampler
        others.append(val_ds)
    return train_dl, positioned, val_dl, others


def fit_stream(data, config: TrainConfig, out_dir, options: StreamOptions | None = None, *, resume: bool = False,
               extra_callbacks: list[Callback] | None = None) -> StreamFit:
    """Train ``config.model`` on the packed folder ``data`` (see the module docstring).

    The clip length is ``config.clip_seconds``, else the packed HDF5 length, else the mean
    packed clip (0.5-10 s). The model's sample rate must be the packed one. Model selection:
    the epoch with the best validation score, else the last epoch.

    Raises:
        ValueError: the sample rates differ, too few clips for one global batch, ``out_dir``
            holds another run and ``resume`` is not set, ``config.batch_by_length`` or ``config.time_shift``.
    """
    opt = options or StreamOptions()
    if config.batch_by_length:
        raise ValueError("--batch-by-length batches files held in memory; packed clips stream at one length (drop the flag)")
    if config.time_shift:
        raise ValueError("--time-shift places files held in memory inside their clips; packed clips stream as packed (drop the flag)")
    out_dir = Path(out_dir)
    index = load_index(data)
    classes = tuple(index.classes)
    L.seed_everything(config.seed, workers=True, verbose=False)
    model = build_model(config, len(classes), classes)
    if int(model.sample_rate) != int(index.sample_rate):
        raise ValueError(f"{data}: packed at {index.sample_rate} Hz, {config.model} takes {model.sample_rate} Hz; "
                         f"pack again with --sample-rate {model.sample_rate} (or --model {config.model})")
    if opt.sync_batchnorm and config.accelerator == "cpu":
        raise ValueError("--sync-batchnorm needs GPUs: torch's SyncBatchNorm has no CPU implementation")
    run_file = out_dir / "run.json"
    if run_file.exists() and not resume and int(os.environ.get("RANK", "0") or 0) == 0:
        raise ValueError(f"{out_dir} already holds a run; add --resume to continue it or choose another --out")
    if opt.val_data:
        train_names, val_names, val_index = [s.name for s in index.shards], None, load_index(opt.val_data)
        if tuple(val_index.classes) != classes:
            raise ValueError(f"{opt.val_data}: other classes than {data}")
    else:
        train_names, val_names = split_validation(index, config.val_fraction, config.seed)
        val_index = index if val_names else None
    clip = _clip_seconds(config, index)
    train_dl, positioned, val_dl, others = _loaders(index, val_index, train_names, val_names, config, opt, clip)
    model.train()
    module = StreamingClassifier(model, config, index.multilabel, steps_per_epoch=max(1, positioned.steps))
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    ckpt_dir = out_dir / "lightning"
    book = _StreamBookkeeping(positioned, others, out_dir)
    callbacks: list[Callback] = [book, ModelCheckpoint(
        dirpath=ckpt_dir, filename="best", monitor="val_score" if val_dl is not None else None, mode="max", save_top_k=1,
        save_on_train_epoch_end=not config.val_every, enable_version_counter=False)]
    # last.ckpt at every epoch end (save_last=True above writes it only when the best improves)
    callbacks.append(ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, save_on_train_epoch_end=True,
                                     enable_version_counter=False))
    if opt.checkpoint_every > 0:
        callbacks.append(ModelCheckpoint(dirpath=ckpt_dir, filename="last", every_n_train_steps=opt.checkpoint_every,
                                         save_top_k=1, enable_version_counter=False))
    callbacks += list(extra_callbacks or [])
    trainer = L.Trainer(
        **trainer_schedule(config), accelerator=config.accelerator, devices=config.devices,
        num_nodes=opt.num_nodes, strategy=config.strategy, precision=config.precision, sync_batchnorm=opt.sync_batchnorm,
        use_distributed_sampler=False, callbacks=callbacks, plugins=[AtomicCheckpointIO()], logger=training_logger(config.logger, out_dir),
        default_root_dir=str(out_dir), num_sanity_val_steps=0, enable_model_summary=False,
        enable_progress_bar=config.progress, log_every_n_steps=1,
    )
    if trainer.is_global_zero:
        write_json_atomic(run_file, {"data": str(data), "config": config.to_dict(), "environment": run_environment(),
                                     "stream": opt.__dict__, "clip_seconds": clip,
                                     "train_shards": len(train_names), "val_shards": None if val_names is None else len(val_names),
                                     "world_size": trainer.world_size, "history": []})
    last = ckpt_dir / "last.ckpt"
    ckpt_path = str(last) if resume and last.exists() else None
    with warnings.catch_warnings():
        for msg in (".*does not have many workers.*", ".*Checkpoint directory .* exists and is not empty.*",
                    ".*recommended to use `self.log\\('val_.*", ".*IterableDataset.*has `__len__` defined.*",
                    ".*Consider setting `persistent_workers=True`.*", ".*`validation_step` but have no `val_dataloader`.*"):
            warnings.filterwarnings("ignore", message=msg)
        trainer.fit(module, train_dl, val_dl, ckpt_path=ckpt_path)

    history = list(module.history)
    best_path = callbacks[1].best_model_path
    if best_path and Path(best_path).exists() and val_dl is not None:
        load_lightning_weights(model, best_path)
    elif last.exists():
        load_lightning_weights(model, last)
    scored = [h for h in history if "val_score" in h]
    best = max(scored, key=lambda h: h["val_score"]) if scored else (history[-1] if history else {"epoch": 0})
    best_val = {k: best[k] for k in ("val_loss", "val_metric", "val_score") if k in best}
    model.eval()
    if trainer.is_global_zero:
        bundle = fold_bundle(model, config, classes, index.multilabel, Windowing(clip, clip / 2), best_epoch=int(best["epoch"]),
                             data=str(data))
        save_checkpoint(model, out_dir / "best.pth", bundle)
        save_pretrained(model, bundle, out_dir / "model")
        run = json.loads(run_file.read_text())
        run.update(history=history, best_epoch=int(best["epoch"]), best_val=best_val, global_step=int(trainer.global_step))
        write_json_atomic(run_file, run)
    return StreamFit(model=model, history=history, best_epoch=int(best["epoch"]), best_val=best_val, steps=list(book.steps))
