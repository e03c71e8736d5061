"""Class-balanced sampling for imbalanced (multi-label) data, as in PANNs' balanced training."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["BalancedSampler"]


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

    def __iter__(self) -> Iterator[int]:
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
