"""Samplers: class-balanced sampling for imbalanced (multi-label) data, as in PANNs' balanced
training, and group-homogeneous batches (every batch from one speaker / device)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["BalancedSampler", "GroupBatchSampler"]


class BalancedSampler(torch.utils.data.Sampler[int]):
    """Draw every class equally often, cycling through each class's items.

    The PANNs recipe (Kong et al. 2020, "balanced sampling"): classes are visited in a shuffled
    order, round after round; each visit yields the next item of that class from a shuffled list
    of its items, reshuffled whenever it is used up. So over ``C`` consecutive draws every class
    (with at least one item) appears once, and within a class every item is used before any is
    repeated. An item with several labels can be drawn through each of them.

    Args:
        targets: ``(n, classes)`` multi-hot (or ``(n,)`` class indices for single-label data).
        num_samples: indices per epoch (default ``n``).
        seed: the draws of epoch ``e`` depend only on ``(seed, e)``; the epoch advances on every
            ``iter()`` (or set it with :meth:`set_epoch`, e.g. under DDP).
    """

    def __init__(self, targets: np.ndarray, num_samples: int | None = None, seed: int = 0):
        t = np.asarray(targets)
        if t.ndim == 1:
            onehot = np.zeros((len(t), int(t.max()) + 1 if len(t) else 0), dtype=bool)
            onehot[np.arange(len(t)), t.astype(np.int64)] = True
            t = onehot
        if t.ndim != 2:
            raise ValueError(f"targets must be (n, classes) or (n,), got shape {t.shape}")
        self.n = t.shape[0]
        self.per_class = [np.flatnonzero(t[:, c] > 0) for c in range(t.shape[1])]
        self.classes = np.array([c for c, idx in enumerate(self.per_class) if len(idx)], dtype=np.int64)
        if len(self.classes) == 0:
            raise ValueError("BalancedSampler: no class has any item")
        self.num_samples = self.n if num_samples is None else int(num_samples)
        if self.num_samples <= 0:
            raise ValueError(f"num_samples must be positive, got {num_samples}")
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        queues = {int(c): rng.permutation(self.per_class[c]) for c in self.classes}
        pos = dict.fromkeys(queues, 0)
        order: np.ndarray = np.empty(0, dtype=np.int64)
        out = np.empty(self.num_samples, dtype=np.int64)
        j = 0
        for i in range(self.num_samples):
            if j == len(order):
                order, j = rng.permutation(self.classes), 0
            c = int(order[j])
            j += 1
            if pos[c] == len(queues[c]):
                queues[c], pos[c] = rng.permutation(self.per_class[c]), 0
            out[i] = queues[c][pos[c]]
            pos[c] += 1
        return iter(out.tolist())


class GroupBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batches whose items all share one group (speaker, recording device...).

    In training mode BatchNorm then normalises with one group's statistics, the same
    normalisation that test-time adaptation (``--adapt-bn``) applies to a new group: the
    network learns on group-normalised features ("domain-specific batch normalisation").

    Each epoch every group's items are shuffled and cut into batches of ``batch_size``; a group's
    last, incomplete batch is kept if it has at least 2 items (BatchNorm needs 2) and
    ``drop_last`` is false. The batches of all groups are then shuffled together. Epoch ``e``
    depends only on ``(seed, e)``; the epoch advances on every ``iter()``.
    """

    def __init__(self, groups, batch_size: int, seed: int = 0, drop_last: bool = False):
        g = np.asarray(groups, dtype=object)
        if g.ndim != 1 or len(g) == 0:
            raise ValueError("GroupBatchSampler needs a non-empty 1-D sequence of groups")
        if any(v is None for v in g):
            raise ValueError("GroupBatchSampler: some items have no group")
        if batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (BatchNorm), got {batch_size}")
        self.members = [np.flatnonzero(g == v) for v in sorted(set(g.tolist()), key=str)]
        self.batch_size = int(batch_size)
        self.drop_last = bool(drop_last)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _sizes(self, n: int) -> list[int]:
        full, rest = divmod(n, self.batch_size)
        return [self.batch_size] * full + ([rest] if rest >= 2 and not self.drop_last else [])

    def __len__(self) -> int:
        return sum(len(self._sizes(len(m))) for m in self.members)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        batches = []
        for m in self.members:
            order = rng.permutation(m)
            start = 0
            for size in self._sizes(len(m)):
                batches.append(order[start : start + size].tolist())
                start += size
        for i in rng.permutation(len(batches)):
            yield batches[i]
