"""What :func:`~audiocnn.data.shards.pack` reads: a manifest of files, or clips generated in code.

A source is a sequence of clips with labels. It has ``name``, ``classes``, ``multilabel``,
``len()``, ``record(i)`` (the metadata that travels with clip ``i``), ``load(i, sample_rate)``
(float32 mono ``(samples,)`` at ``sample_rate``; raises ``AudioLoadError`` for a bad file) and
``fingerprint()`` (a hash that changes when the clips or labels change).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from audiocnn.audio import load_audio

__all__ = ["ManifestSource", "SyntheticSource"]


class ManifestSource:
    """The items of a :class:`~audiocnn.data.Manifest` (decoded with ``load_audio``)."""

    def __init__(self, manifest):
        self.manifest = manifest
        self.name = manifest.name
        self.classes = tuple(manifest.classes)
        self.multilabel = bool(manifest.multilabel)
        self._index = {c: i for i, c in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.manifest.items)

    def record(self, i: int) -> dict:
        it = self.manifest.items[i]
        return {
            "path": str(it.path),
            "labels": list(it.labels),
            "target": [self._index[lab] for lab in it.labels],
            "fold": it.fold,
            "split": it.split,
            "group": it.group,
            "extra": dict(it.extra),
        }

    def load(self, i: int, sample_rate: int) -> np.ndarray:
        x, _ = load_audio(self.manifest.items[i].path, sample_rate=sample_rate, mono=True)
        return x

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(json.dumps([self.name, list(self.classes), self.multilabel]).encode())
        for it in self.manifest.items:
            h.update(json.dumps([str(it.path), list(it.labels), it.fold, it.split, it.group]).encode())
        return h.hexdigest()


class SyntheticSource:
    """Clips generated from ``(seed, index)``: noise plus one tone per label, with class
    frequencies that fall off like a Zipf law (an imbalanced, AudioSet-like label distribution).

    Used to measure packing and streaming at scale without writing the corpus first: clip ``i``
    is regenerated identically whenever it is asked for.

    Args:
        num_clips: corpus size.
        seconds: clip length in seconds.
        num_classes: vocabulary size (``class_0``...).
        multilabel: 1 + Poisson(0.5) labels per clip (else exactly one).
        seed: the corpus depends only on the arguments.
    """

    def __init__(self, num_clips: int, seconds: float = 10.0, num_classes: int = 20, multilabel: bool = True, seed: int = 0):
        if num_clips < 1 or num_classes < 2 or seconds <= 0:
            raise ValueError(f"need num_clips >= 1, num_classes >= 2, seconds > 0; got {num_clips}, {num_classes}, {seconds}")
        self.num_clips, self.seconds, self.seed = int(num_clips), float(seconds), int(seed)
        self.classes = tuple(f"class_{c}" for c in range(num_classes))
        self.multilabel = bool(multilabel)
        self.name = f"synthetic:{num_clips}x{seconds:g}s"
        prior = 1.0 / np.arange(1, num_classes + 1) ** 0.8
        self._prior = prior / prior.sum()

    def __len__(self) -> int:
        return self.num_clips

    def _labels(self, i: int) -> list[int]:
        rng = np.random.default_rng([self.seed, i, 1])
        k = 1 + int(rng.poisson(0.5)) if self.multilabel else 1
        return sorted(int(c) for c in rng.choice(len(self.classes), size=min(k, len(self.classes)), replace=False, p=self._prior))

    def record(self, i: int) -> dict:
        t = self._labels(i)
        return {"path": f"synthetic/{i:09d}.wav", "labels": [self.classes[c] for c in t], "target": t,
                "fold": None, "split": None, "group": None, "extra": {}}

    def load(self, i: int, sample_rate: int) -> np.ndarray:
        n = int(round(self.seconds * sample_rate))
        rng = np.random.default_rng([self.seed, i, 2])
        x = 0.05 * rng.standard_normal(n, dtype=np.float32)
        t = np.arange(n, dtype=np.float32) / np.float32(sample_rate)
        for c in self._labels(i):
            f = 150.0 * 2 ** (c * 4.0 / len(self.classes))  # four octaves over the vocabulary
            x += np.float32(0.2) * np.sin(np.float32(2 * np.pi * f) * t + np.float32(rng.uniform(0, 6.28)))
        return np.clip(x, -1.0, 1.0)

    def fingerprint(self) -> str:
        spec = [self.name, self.num_clips, self.seconds, len(self.classes), self.multilabel, self.seed]
        return hashlib.sha256(json.dumps(spec).encode()).hexdigest()
