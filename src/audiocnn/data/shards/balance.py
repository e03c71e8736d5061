"""Balanced sampling on packed data, and the rank-aware sampler of the random-access (HDF5) path.

- HDF5 (random access): exact. :class:`RankSampler` draws the epoch's order with
  :class:`~audiocnn.data.BalancedSampler` (the PANNs recipe: classes in turn, each class's clips
  in a reshuffled cycle) and deals it to the ranks in blocks of one batch, so ``world`` ranks
  with batch ``b`` see the same global batches as one process with batch ``world * b``.
- Tar shards (sequential): approximate, by weighted resampling. The balanced sampler draws clip
  ``i`` with probability ``p_i = (1 / C) * sum_{c in labels(i)} 1 / n_c`` (``C`` classes with
  clips, ``n_c`` clips of class ``c``); the stream repeats each clip it reads
  ``Poisson(N * p_i)`` times (``N`` = clips per epoch), which has the same expected number of
  draws per clip and per class, and skips clips drawn 0 times without decoding them. The
  difference to the exact sampler is the Poisson noise of the per-class counts, and repeats of
  a clip sit within one shuffle buffer instead of being spread over the epoch; docs/scaling.md
  measures both.
"""

from __future__ import annotations

import numpy as np
import torch

from audiocnn.data import BalancedSampler

__all__ = ["EpochPosition", "RankSampler", "balanced_repeats", "balanced_weights"]


def balanced_weights(class_counts: np.ndarray) -> np.ndarray:
    """``(classes,)`` weight of one label of each class: ``1 / (C * n_c)`` (0 for empty classes),
    so that a clip's draw probability is the sum of its labels' weights."""
    n = np.asarray(class_counts, dtype=np.float64)
    present = n > 0
    if not present.any():
        raise ValueError("balanced sampling: no class has any clip")
    w = np.zeros_like(n)
    w[present] = 1.0 / (present.sum() * n[present])
    return w


def balanced_repeats(target: list[int] | np.ndarray, weights: np.ndarray, epoch_size: int, rng: np.random.Generator) -> int:
    """How often the stream emits a clip with class indices ``target`` in an epoch of
    ``epoch_size`` draws: ``Poisson(epoch_size * sum(weights[target]))``."""
    lam = float(epoch_size * np.sum(weights[np.asarray(target, dtype=np.int64)])) if len(target) else 0.0
    return int(rng.poisson(lam)) if lam > 0 else 0


class EpochPosition:
    """Where a resumable reader is: ``epoch`` and the ``skip`` batches of it already trained on.
    The reader defines ``steps`` (its batches per epoch)."""

    epoch: int = 0
    skip: int = 0

    @property
    def steps(self) -> int:
        """Batches per epoch (defined by the reader)."""
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        if int(epoch) != self.epoch:
            self.epoch, self.skip = int(epoch), 0

    def set_position(self, epoch: int, batches: int) -> None:
        """Start epoch ``epoch`` after its first ``batches`` batches (a mid-epoch checkpoint)."""
        if batches >= self.steps:
            self.epoch, self.skip = int(epoch) + 1, 0
        else:
            self.epoch, self.skip = int(epoch), int(batches)


class RankSampler(EpochPosition, torch.utils.data.Sampler[int]):
    """Indices of one rank's training batches for one epoch, resumable mid-epoch.

    The epoch's global order (a permutation of ``n`` clips, or the balanced order of
    ``targets``) is drawn from ``(seed, epoch)`` alone, so every rank draws the same one; it is
    cut into ``steps`` global batches of ``world * batch_size`` (the remainder is dropped) and
    rank ``r`` takes block ``r`` of each. :meth:`set_position` skips the batches a checkpoint
    had already trained on.

    Args:
        n: number of clips.
        batch_size: per-rank batch.
        targets: ``(n, classes)`` multi-hot or ``(n,)`` class indices for balanced sampling;
            ``None`` shuffles uniformly.
        rank, world_size: this process and the number of processes.
    """

    def __init__(self, n: int, batch_size: int, *, targets: np.ndarray | None = None, seed: int = 0, rank: int = 0, world_size: int = 1):
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.balanced = BalancedSampler(targets, num_samples=self.n, seed=seed) if targets is not None else None
        self.set_rank(rank, world_size)
        self.epoch, self.skip = 0, 0

    def set_rank(self, rank: int, world_size: int) -> None:
        """Deal the global order to ``world_size`` ranks (set once the processes exist)."""
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.rank, self.world_size = int(rank), int(world_size)
        self._steps = self.n // (self.world_size * self.batch_size)
        if self._steps == 0:
            raise ValueError(f"{self.n} clips are fewer than one global batch ({world_size} x {self.batch_size})")

    @property
    def steps(self) -> int:
        """Global batches per epoch (the remainder of the clips is dropped)."""
        return self._steps

    def global_order(self) -> np.ndarray:
        if self.balanced is not None:
            self.balanced.set_epoch(self.epoch)
            return np.fromiter(iter(self.balanced), dtype=np.int64, count=self.n)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.n)

    def __len__(self) -> int:
        return self.steps * self.batch_size

    def __iter__(self):
        order = self.global_order()
        b, gb = self.batch_size, self.batch_size * self.world_size
        for k in range(self.skip, self.steps):
            start = k * gb + self.rank * b
            yield from order[start : start + b].tolist()
