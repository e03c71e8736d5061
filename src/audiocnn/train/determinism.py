"""Training randomness that depends on ``(seed, epoch)`` alone, so that a run resumed after a kill
repeats the uninterrupted run exactly.

Lightning resumes a fold from ``last.ckpt``, written at the end of each epoch: the weights, the
optimiser, the schedule and the callbacks come back, but not the random number generators nor
the data loader's shuffling state. So every epoch's randomness is derived afresh here:

- the order of the training items comes from ``(seed, epoch)`` (or from a sampler that has
  ``set_epoch``, such as :class:`~audiocnn.data.BalancedSampler`);
- each item's random crop comes from ``(seed, epoch, item)``, whichever loader worker reads it;
- the global generators (torch, numpy, random: mixup, speed perturbation, dropout) are seeded
  from ``(seed, epoch)`` when the epoch's first item is drawn.

:class:`EpochSampler` does all three: it yields ``epoch * n + item`` so that
:class:`EpochCrops` knows the epoch without shared state.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from audiocnn.audio import crop_or_pad

__all__ = ["EpochCrops", "EpochSampler", "epoch_seed"]


def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed for epoch ``epoch`` of a run seeded with ``seed``."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch)]).generate_state(1)[0])


class EpochSampler(Sampler[int]):
    """Indices ``epoch * n + item`` of the ``n`` training items, in an order fixed by
    ``(seed, epoch)`` (a random permutation, or ``base``'s order after ``base.set_epoch``).

    Lightning calls :meth:`set_epoch` before each epoch; :meth:`start_at` sets the epoch a resumed
    fit starts with (its loader may be iterated before Lightning's call).
    """

    def __init__(self, n: int, seed: int, base: Sampler | None = None):
        self.n, self.seed, self.base = int(n), int(seed), base
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    start_at = set_epoch

    def __len__(self) -> int:
        return len(self.base) if self.base is not None else self.n

    def __iter__(self):
        # a generator: runs at the first draw, after Lightning's set_epoch
        epoch = self.epoch
        s = epoch_seed(self.seed, epoch)
        torch.manual_seed(s)
        np.random.seed(s)
        random.seed(s)
        if self.base is not None:
            if hasattr(self.base, "set_epoch"):
                self.base.set_epoch(epoch)
            order = list(iter(self.base))
        else:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.n).tolist()
        self.epoch = epoch + 1  # when nobody calls set_epoch, the next iteration is the next epoch
        for i in order:
            yield epoch * self.n + int(i)


class EpochCrops(Dataset):
    """A training :class:`~audiocnn.data.ClipDataset` whose random crops come from
    ``(seed, epoch, item)``; indices are those of :class:`EpochSampler`."""

    def __init__(self, clips, seed: int):
        self.clips, self.seed = clips, int(seed)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int):
        epoch, i = divmod(int(index), len(self.clips))
        x = self.clips.waveform(i)
        rng = np.random.default_rng([self.seed, epoch, i])
        clip = crop_or_pad(x, self.clips.clip_samples, mode="random", rng=rng)
        return torch.tensor(clip, dtype=torch.float32), self.clips.target(i)
