"""PyTorch datasets over a manifest: fixed-length clips for training, sliding windows for evaluation."""

from __future__ import annotations

import numpy as np
import torch

from audiocnn.audio import crop_or_pad, sliding_windows
from audiocnn.data.cache import AudioCache
from audiocnn.data.manifest import Manifest

__all__ = ["ClipDataset", "WindowedDataset", "collate_windows"]


class _ManifestDataset(torch.utils.data.Dataset):
    def __init__(self, manifest: Manifest, cache: AudioCache, clip_seconds: float):
        if clip_seconds <= 0:
            raise ValueError(f"clip_seconds must be > 0, got {clip_seconds}")
        self.manifest = manifest
        self.cache = cache
        self.clip_seconds = float(clip_seconds)
        self.clip_samples = int(round(clip_seconds * cache.sample_rate))
        self.sample_rate = cache.sample_rate
        self.multilabel = manifest.multilabel
        if manifest.multilabel:
            self._targets = torch.from_numpy(manifest.targets())
        else:
            self._targets = torch.from_numpy(manifest.label_indices())

    def __len__(self) -> int:
        return len(self.manifest.items)

    @property
    def num_classes(self) -> int:
        return len(self.manifest.classes)

    def target(self, index: int) -> torch.Tensor:
        """Long class index (single-label) or float32 ``(classes,)`` multi-hot (multi-label)."""
        return self._targets[index]

    def targets(self) -> torch.Tensor:
        """All targets: ``(n,)`` long or ``(n, classes)`` float32."""
        return self._targets


class ClipDataset(_ManifestDataset):
    """Items -> ``(waveform (clip_samples,) float32, target)``.

    ``train=True``: a random crop of ``clip_seconds`` (zero-padded at the end when the file is
    shorter); the offset is drawn from torch's global generator mixed with ``seed``, so a run is
    reproducible under ``torch.manual_seed`` / Lightning's ``seed_everything(workers=True)`` and
    differs between epochs and DataLoader workers. ``train=False``: the centre crop (or pad).
    The target is a long class index (single-label) or a float32 multi-hot vector (multi-label).
    """

    def __init__(self, manifest: Manifest, cache: AudioCache, clip_seconds: float, train: bool,
                 seed: int = 0):
        super().__init__(manifest, cache, clip_seconds)
        self.train = bool(train)
        self.seed = int(seed)

    def waveform(self, index: int) -> np.ndarray:
        """The full decoded waveform of item ``index`` (read-only, shared with the cache)."""
        return self.cache.get(self.manifest.items[index].path)

    def __getitem__(self, index: int):
        x = self.waveform(index)
        n = self.clip_samples
        if self.train and x.shape[0] > n:
            draw = int(torch.randint(0, 2**31 - 1, (1,)).item())
            rng = np.random.default_rng([self.seed, draw])
            clip = crop_or_pad(x, n, mode="random", rng=rng)
        else:
            clip = crop_or_pad(x, n, mode="center")
        return torch.tensor(clip, dtype=torch.float32), self._targets[index]


class WindowedDataset(_ManifestDataset):
    """Evaluation over sliding windows: items -> ``(windows (n_windows, clip_samples), target)``.

    Windows of ``clip_seconds`` every ``hop_seconds`` (default: half a clip) cover the whole file;
    the last one is zero-padded and a file shorter than a clip gives one padded window. Average
    the window logits (or probabilities) per file. Use ``batch_size=1`` or
    :func:`collate_windows`.
    """

    def __init__(self, manifest: Manifest, cache: AudioCache, clip_seconds: float,
                 hop_seconds: float | None = None):
        super().__init__(manifest, cache, clip_seconds)
        hop = clip_seconds / 2 if hop_seconds is None else hop_seconds
        if hop <= 0:
            raise ValueError(f"hop_seconds must be > 0, got {hop_seconds}")
        self.hop_seconds = float(hop)
        self.hop_samples = max(1, int(round(hop * cache.sample_rate)))

    def __getitem__(self, index: int):
        x = self.cache.get(self.manifest.items[index].path)
        w = sliding_windows(x, self.clip_samples, self.hop_samples)
        return torch.tensor(w, dtype=torch.float32), self._targets[index]


def collate_windows(batch):
    """Collate ``WindowedDataset`` items of different window counts.

    Returns ``(windows (total_windows, clip_samples), counts (batch,) long, targets)``; split the
    model's outputs back per file with ``torch.split(out, counts.tolist())``.
    """
    windows = torch.cat([w for w, _ in batch], dim=0)
    counts = torch.tensor([w.shape[0] for w, _ in batch], dtype=torch.long)
    targets = torch.stack([t for _, t in batch])
    return windows, counts, targets
