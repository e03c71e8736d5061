"""Streaming tar shards into training batches with bounded memory.

Memory is bounded by the shuffle buffer (``shuffle_buffer`` encoded clips per reader; clips are
decoded only when they leave the buffer), not by the corpus. The readers of one epoch are the
``world_size * num_workers`` (rank, DataLoader worker) pairs. They split the data without
overlap in one of two ways:

- ``"shards"`` (when there are at least as many shards as readers): the epoch's shard order is
  drawn from ``(seed, epoch)`` and shard ``j`` goes to reader ``j mod readers``; each reader
  shuffles its shards' clips through its own buffer.
- ``"samples"`` (fewer shards than readers, and evaluation): every reader walks the same
  epoch-shuffled stream of all clips and keeps its own batches: global batch ``k`` (``world *
  batch_size`` clips) belongs to worker ``k mod num_workers``, and rank ``r`` keeps block ``r``
  of it. One process with batch ``world * b`` then sees exactly the batches that ``world``
  processes with batch ``b`` see together (what the DDP test compares).

Every rank yields the same number of training batches, a multiple of ``num_workers``-way round
robin, so DDP ranks never wait for each other at an epoch's end: a reader whose shards run out
reads them again (reshuffled). :meth:`ShardStream.set_position` makes the next iteration skip
the batches a mid-epoch checkpoint had trained on; skipped clips are not decoded.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from audiocnn.data.shards.balance import EpochPosition, balanced_repeats, balanced_weights
from audiocnn.data.shards.tar import decode_audio, iter_tar_samples

__all__ = ["ShardStream", "split_shards"]


def split_shards(num_shards: int, readers: int, reader: int, epoch: int, seed: int, shuffle: bool = True) -> list[int]:
    """Shard indices of ``reader`` (of ``readers``) in ``epoch``: the epoch's shard order dealt
    round robin. Over all readers every shard appears exactly once."""
    order = np.random.default_rng([seed, epoch]).permutation(num_shards) if shuffle else np.arange(num_shards)
    return order[reader::readers].tolist()


def _key_int(key: str) -> int:
    return int(key) if key.isdigit() else zlib.crc32(key.encode())


class ShardStream(EpochPosition, IterableDataset):
    """Batches ``(waveforms (B, clip_samples) float32, targets)`` from the tar shards of a
    packed folder; targets are ``(B,)`` class indices (single-label) or ``(B, classes)``
    float32 multi-hot. Use with ``DataLoader(stream, batch_size=None, num_workers=...)``.

    Args:
        index: the folder's :class:`~audiocnn.data.shards.index.PackedIndex` (``format="tar"``).
        clip_seconds: training clip length; longer clips are cut (``train``: random offset from
            ``(seed, epoch, clip)``; else the centre), shorter ones zero-padded.
        batch_size: per-rank batch.
        train: shuffle, balance, equal batch counts on every rank; else every clip once, in
            order, the last batch of each reader possibly smaller.
        shards: names of the shards to read (default all).
        shuffle_buffer: encoded clips held per reader for shuffling.
        balanced: approximate PANNs balanced sampling (see :mod:`audiocnn.data.shards.balance`).
        split: ``"auto"``, ``"shards"`` or ``"samples"`` (module docstring).
        num_workers: the DataLoader's workers (0 = the main process reads).
        rank, world_size: this process among the DDP ranks (set later with :meth:`set_rank`).
    """

    def __init__(self, index, clip_seconds: float, batch_size: int, *, train: bool = True, shards=None,
                 shuffle_buffer: int = 512, balanced: bool = False, seed: int = 0, split: str = "auto",
                 num_workers: int = 0, rank: int = 0, world_size: int = 1):
        if index.format != "tar":
            raise ValueError(f"{index.root}: ShardStream reads tar shards, this folder holds {index.format} (use PackedClipDataset)")
        if split not in ("auto", "shards", "samples"):
            raise ValueError(f"split must be 'auto', 'shards' or 'samples', got {split!r}")
        if batch_size < 1 or shuffle_buffer < 1:
            raise ValueError(f"batch_size and shuffle_buffer must be >= 1, got {batch_size} and {shuffle_buffer}")
        use = set(shards) if shards is not None else None
        self.index = index
        self.shards = [s for s in index.shards if use is None or s.name in use]
        if not self.shards:
            raise ValueError(f"{index.root}: no shards selected")
        self.total = sum(s.samples for s in self.shards)
        self.clip_samples = int(round(clip_seconds * index.sample_rate))
        self.batch_size, self.train, self.shuffle_buffer = int(batch_size), bool(train), int(shuffle_buffer)
        self.seed, self.split_mode, self.num_workers = int(seed), split, int(num_workers)
        self.multilabel, self.num_classes = index.multilabel, len(index.classes)
        self.weights = None
        if balanced and train:
            counts = np.zeros(self.num_classes, dtype=np.int64)
            for s in self.shards:
                counts += np.asarray(s.class_counts or np.zeros(self.num_classes), dtype=np.int64)
            self.weights = balanced_weights(counts)
        self.epoch, self.skip = 0, 0
        self.set_rank(rank, world_size)

    # -- layout ----------------------------------------------------------------------------
    def set_rank(self, rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.rank, self.world_size = int(rank), int(world_size)
        if self.train and self.steps == 0:
            raise ValueError(f"{self.total} clips are fewer than one global batch ({world_size} x {self.batch_size})")

    @property
    def readers(self) -> int:
        return self.world_size * max(1, self.num_workers)

    @property
    def mode(self) -> str:
        if self.split_mode != "auto":
            return self.split_mode
        return "shards" if len(self.shards) >= self.readers else "samples"

    @property
    def steps(self) -> int:
        """Training batches per rank and epoch."""
        return self.total // (self.world_size * self.batch_size)

    def _eval_counts(self) -> list[int]:
        """Clips of each worker of this rank (evaluation)."""
        w_n = max(1, self.num_workers)
        if self.mode == "shards":
            return [sum(self.shards[j].samples for j in range(self.rank * w_n + w, len(self.shards), self.readers)) for w in range(w_n)]
        mine = len(range(self.rank, self.total, self.world_size))  # rank-local clips, dealt by batches
        sizes = [min(self.batch_size, mine - j * self.batch_size) for j in range(-(-mine // self.batch_size))]
        return [sum(sizes[w::w_n]) for w in range(w_n)]

    def __len__(self) -> int:
        if self.train:  # the whole epoch, also when resuming (Lightning counts the skipped batches as done)
            return self.steps
        return sum(-(-n // self.batch_size) for n in self._eval_counts())

    # -- reading ---------------------------------------------------------------------------
    def _clips(self, shard_ids: list[int], rng_key: tuple, cycle: bool) -> Iterator[tuple[str, bytes, list[int], int]]:
        """``(key, audio bytes, target, repeat)`` through the shuffle buffer (train) or in order."""
        c = 0
        while True:
            order = shard_ids if c == 0 or not self.train else np.random.default_rng([self.seed, self.epoch, *rng_key, c]).permutation(shard_ids).tolist()
            src = self._read(order, c)
            yield from self._shuffled(src, np.random.default_rng([self.seed, self.epoch, *rng_key, c, 7])) if self.train else src
            c += 1
            if not cycle:
                return

    def _read(self, order: list[int], cycle: int):
        for j in order:
            for key, audio, meta in iter_tar_samples(self.index.path(self.shards[j])):
                target = meta.get("target", [])
                if self.weights is None:
                    yield key, audio, target, 0
                    continue
                reps = balanced_repeats(target, self.weights, self.total, np.random.default_rng([self.seed, self.epoch, _key_int(key), cycle]))
                for r in range(reps):
                    yield key, audio, target, r

    def _shuffled(self, items, rng: np.random.Generator):
        buf: list = []
        for it in items:
            if len(buf) < self.shuffle_buffer:
                buf.append(it)
                continue
            j = int(rng.integers(len(buf)))
            yield buf[j]
            buf[j] = it
        rng.shuffle(buf)
        yield from buf

    def _decode(self, key: str, audio: bytes, repeat: int) -> np.ndarray:
        x, _ = decode_audio(audio)
        n = self.clip_samples
        if x.shape[0] > n:
            if self.train:
                start = int(np.random.default_rng([self.seed, self.epoch, _key_int(key), repeat]).integers(0, x.shape[0] - n + 1))
            else:
                start = (x.shape[0] - n) // 2
            x = x[start : start + n]
        elif x.shape[0] < n:
            x = np.pad(x, (0, n - x.shape[0]))
        return x

    def _batch(self, clips: list) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.stack([self._decode(k, a, r) for k, a, _, r in clips]))
        if self.multilabel:
            y = torch.zeros(len(clips), self.num_classes)
            for i, (_, _, t, _) in enumerate(clips):
                y[i, t] = 1.0
        else:
            y = torch.tensor([t[0] for _, _, t, _ in clips], dtype=torch.long)
        return x, y

    def keys(self) -> Iterator[list[str]]:
        """The keys of this reader's batches in the current epoch, in order, without decoding
        (what :meth:`__iter__` would yield; for inspecting the sampling)."""
        return self._iterate(lambda clips: [c[0] for c in clips])

    def __iter__(self):
        return self._iterate(self._batch)

    def _iterate(self, emit):
        info = get_worker_info()
        w, w_n = (info.id, info.num_workers) if info is not None else (0, 1)
        if w_n != max(1, self.num_workers):
            raise ValueError(f"ShardStream was built for num_workers={self.num_workers}, the DataLoader has {w_n}")
        b = self.batch_size
        if self.train:  # a resumed epoch: the DataLoader asks worker 0 first for batch `skip`
            w = (w + self.skip) % w_n
        if self.mode == "shards":
            reader = self.rank * w_n + w
            ids = split_shards(len(self.shards), self.readers, reader, self.epoch, self.seed, shuffle=self.train)
            if self.train:
                mine = range(w, self.steps, w_n)
                todo, skip = len(mine), len([k for k in mine if k < self.skip])
                clips = self._clips(ids, (reader,), cycle=True)
                for _ in range(skip * b):  # already trained on: pass over without decoding
                    next(clips)
                for _ in range(todo - skip):
                    yield emit([next(clips) for _ in range(b)])
            else:
                batch = []
                for clip in self._clips(ids, (reader,), cycle=False):
                    batch.append(clip)
                    if len(batch) == b:
                        yield emit(batch)
                        batch = []
                if batch:
                    yield emit(batch)
            return
        # samples: all readers walk the same stream and keep their own batches
        gb = self.world_size * b
        ids = split_shards(len(self.shards), 1, 0, self.epoch, self.seed, shuffle=self.train)
        stream = self._clips(ids, (), cycle=self.train)
        if self.train:
            for k in range(self.steps):
                block = [next(stream) for _ in range(gb)]
                if k % w_n == w and k >= self.skip:
                    yield emit(block[self.rank * b : (self.rank + 1) * b])
            return
        batch, j = [], 0  # rank-local clip p // world_size, dealt to workers by batches
        for p, clip in enumerate(stream):
            if p % self.world_size != self.rank:
                continue
            if (j // b) % w_n == w:
                batch.append(clip)
                if len(batch) == b:
                    yield emit(batch)
                    batch = []
            j += 1
        if batch:
            yield emit(batch)
