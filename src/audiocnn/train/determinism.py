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
:class:`EpochCrops` knows the epoch without shared state. :class:`LengthBatchSampler` does the
same for batches of files of similar length, which :func:`crop_to_shortest` cuts to the
batch's shortest file instead of zero-padding every short file to the clip length.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from audiocnn.audio import crop_or_pad

__all__ = ["EpochCrops", "EpochSampler", "LengthBatchSampler", "crop_to_shortest", "epoch_seed"]


def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed for epoch ``epoch`` of a run seeded with ``seed``."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch)]).generate_state(1)[0])


def _seed_globals(seed: int, epoch: int) -> None:
    s = epoch_seed(seed, epoch)
    torch.manual_seed(s)
    np.random.seed(s)
    random.seed(s)


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
        _seed_globals(self.seed, epoch)
        if self.base is not None:
            if hasattr(self.base, "set_epoch"):
                self.base.set_epoch(epoch)
            order = list(iter(self.base))
        else:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.n).tolist()
        self.epoch = epoch + 1  # when nobody calls set_epoch, the next iteration is the next epoch
        for i in order:
            yield epoch * self.n + int(i)


class LengthBatchSampler(Sampler[list[int]]):
    """Batches of training items of similar length, in an order fixed by ``(seed, epoch)``;
    indices ``epoch * n + item`` as :class:`EpochSampler`'s.

    Each epoch the items are shuffled (or drawn by ``base`` after ``base.set_epoch``), taken
    ``pool`` batches at a time, sorted by ``lengths`` within that pool and cut into batches of
    ``batch_size``; the batches are then shuffled. So a batch holds files of about one length and
    :func:`crop_to_shortest` wastes little, while the batches still differ from epoch to epoch.
    ``drop_last`` drops each epoch's incomplete batch (BatchNorm fails on a batch of one).
    """

    def __init__(self, lengths, batch_size: int, seed: int, base: Sampler | None = None,
                 drop_last: bool = True, pool: int = 8):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.n, self.batch_size, self.seed, self.base = len(self.lengths), int(batch_size), int(seed), base
        self.drop_last, self.pool = bool(drop_last), max(1, int(pool))
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    start_at = set_epoch

    def _draws(self) -> int:
        return len(self.base) if self.base is not None else self.n

    def __len__(self) -> int:
        k = self._draws()
        return k // self.batch_size if self.drop_last else -(-k // self.batch_size)

    def __iter__(self):
        epoch = self.epoch
        _seed_globals(self.seed, epoch)
        rng = np.random.default_rng([self.seed, epoch, 1])
        if self.base is not None:
            if hasattr(self.base, "set_epoch"):
                self.base.set_epoch(epoch)
            order = np.asarray(list(iter(self.base)), dtype=np.int64)
        else:
            order = rng.permutation(self.n)
        self.epoch = epoch + 1
        if self.drop_last:
            order = order[: len(self) * self.batch_size]
        span = self.batch_size * self.pool
        batches = []
        for s in range(0, len(order), span):
            chunk = order[s : s + span]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[b : b + self.batch_size] for b in range(0, len(chunk), self.batch_size)]
        for b in rng.permutation(len(batches)):
            yield [epoch * self.n + int(i) for i in batches[b]]


def crop_to_shortest(batch, min_samples: int = 1):
    """Collate ``(waveform, target, offset)`` items of different lengths: every waveform is cut to
    the batch's shortest (at least ``min_samples``, shorter ones zero-padded to it), at the
    fraction ``offset`` in [0, 1) of the room it has. Returns ``(waveforms (B, T), targets)``."""
    length = max(min(int(w.shape[0]) for w, _, _ in batch), int(min_samples))
    clips = []
    for w, _, u in batch:
        n = int(w.shape[0])
        if n < length:
            w = torch.nn.functional.pad(w, (0, length - n))
        elif n > length:
            start = min(int(u * (n - length + 1)), n - length)
            w = w[start : start + length]
        clips.append(w)
    return torch.stack(clips), torch.stack([torch.as_tensor(t) for _, t, _ in batch])


class EpochCrops(Dataset):
    """A training :class:`~audiocnn.data.ClipDataset` whose random crops come from
    ``(seed, epoch, item)``; indices are those of :class:`EpochSampler` (or
    :class:`LengthBatchSampler`).

    ``pad=True``: ``(clip, target)``, the clip cut or zero-padded to the clip length; a
    file shorter than a clip at the start of it, or with ``time_shift`` at a random offset
    (zeros on both sides).
    ``pad=False``: ``(waveform, target, offset)``, a random crop of at most the clip length (a
    shorter file whole) and a random fraction for :func:`crop_to_shortest`.
    """

    def __init__(self, clips, seed: int, pad: bool = True, time_shift: bool = False):
        if time_shift and not pad:
            raise ValueError("time_shift places short files inside a zero-padded clip; it needs pad=True")
        self.clips, self.seed, self.pad, self.time_shift = clips, int(seed), bool(pad), bool(time_shift)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int):
        epoch, i = divmod(int(index), len(self.clips))
        x = self.clips.waveform(i)
        rng = np.random.default_rng([self.seed, epoch, i])
        n = self.clips.clip_samples
        if self.pad or x.shape[0] >= n:
            x = crop_or_pad(x, n, mode="random", rng=rng, pad_at="random" if self.time_shift else "end")
        if self.pad:
            return torch.tensor(x, dtype=torch.float32), self.clips.target(i)
        return torch.tensor(x, dtype=torch.float32), self.clips.target(i), float(rng.random())
