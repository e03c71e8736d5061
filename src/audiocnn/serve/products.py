"""The served model: the inference products built once, and the batch handlers that run them.

:func:`load_served_model` is the one place that builds the products (a
:class:`~audiocnn.inference.tagger.Tagger`, a
:class:`~audiocnn.inference.sed.SoundEventDetector` and an
:class:`~audiocnn.inference.embed.Embedder` of the same model and weights). A checkpoint with
a model bundle (``audiocnn train``'s output) gives the model, labels, task and windowing; a
registry name with an official checkpoint works too. Labels, sample rate and clip length are
read from the built tagger, so the service reports exactly what it runs.

The handlers take lists of decoded waveforms (mono float32 at the model's rate) and run in the
batching worker thread:

- tag: one :meth:`Tagger.predict_proba` call on the whole batch (long inputs are cut into
  windows by the tagger, and equal-length windows share a forward pass);
- embed: the clip-level embedding, the mean over the bundle's windows (as
  :meth:`Embedder.embed_files`), equal-length windows of all requests in shared passes;
- sed: :meth:`SoundEventDetector.detect` on each waveform in turn.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audiocnn.audio import aggregate, windows_of
from audiocnn.inference.embed import Embedder
from audiocnn.inference.sed import SoundEventDetector
from audiocnn.inference.tagger import Tagger

__all__ = ["ServedModel", "load_served_model"]


@dataclass
class ServedModel:
    """The products of one model, and what ``GET /v1/models`` says about them."""

    name: str
    tagger: Tagger
    detector: SoundEventDetector
    embedder: Embedder
    precision: str

    @property
    def labels(self) -> list[str]:
        return list(self.tagger.labels)

    @property
    def sample_rate(self) -> int:
        return int(self.tagger.sample_rate)

    @property
    def clip_seconds(self) -> float:
        return float(self.tagger.clip_seconds)

    def describe(self) -> dict:
        """The model bundle as JSON: name, labels, sample rate (Hz), clip length (s) ..."""
        return {
            "name": self.name,
            "task": self.tagger.bundle.task,
            "labels": self.labels,
            "num_classes": len(self.labels),
            "sample_rate": self.sample_rate,
            "clip_seconds": self.clip_seconds,
            "activation": self.tagger.activation,
            "precision": self.precision,
            "frame_level": bool(self.detector.info.frame_level),
            "sed_frame_rate": float(self.detector.frame_rate),
            "embedding_dim": int(self.embedder.embedding_dim),
        }

    # -- batch handlers (worker thread) ------------------------------------------------------
    def tag_batch(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``(classes,)`` probabilities of each waveform."""
        return list(self.tagger.predict_proba(list(waveforms)))

    def embed_batch(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``(dim,)`` clip-level embedding of each waveform."""
        emb = self.embedder
        pad = emb.windowing.pad_short
        windows = [(i, w) for i, x in enumerate(waveforms) for _, w in windows_of(x, emb.clip, emb.clip_hop, pad_short=pad)]
        outputs: list[np.ndarray | None] = [None] * len(windows)
        by_length: dict[int, list[int]] = {}
        for k, (_, w) in enumerate(windows):
            by_length.setdefault(w.shape[0], []).append(k)
        for ks in by_length.values():
            for s in range(0, len(ks), emb.batch_size):
                part = ks[s : s + emb.batch_size]
                rows = emb.embed_batch(np.stack([windows[k][1] for k in part]))
                for k, row in zip(part, rows):
                    outputs[k] = row
        owners = np.array([i for i, _ in windows], dtype=np.int64)
        return list(aggregate(np.stack(outputs), owners, len(waveforms), "mean"))

    def sed_batch(self, waveforms: Sequence[np.ndarray]) -> list:
        """A :class:`~audiocnn.inference.sed.SedResult` of each waveform."""
        return [self.detector.detect(np.asarray(x, dtype=np.float32)) for x in waveforms]

    def handlers(self) -> dict:
        return {"tag": self.tag_batch, "sed": self.sed_batch, "embed": self.embed_batch}


def load_served_model(
    model: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    labels=None,
    precision: str = "bf16",
    max_batch: int = 8,
    num_threads: int | None = None,
    sed_threshold: float = 0.5,
) -> ServedModel:
    """Build the tagger, detector and embedder of one model.

    Args:
        model: registry name; default: the one in the checkpoint's bundle.
        checkpoint: checkpoint file or model folder; without one the model has random weights (a
            warning says so).
        labels: class names or a labels file (default: the bundle's, else ``class_i``).
        precision: ``"fp32"``, ``"bf16"`` (the fast path) or ``"int8"``.
        max_batch: windows per forward pass (the service's batch size).
        num_threads: torch CPU threads.
        sed_threshold: probability at which a class is active in a frame (SED events).
    """
    if model is None and checkpoint is None:
        raise ValueError("give a model name (--model) or a checkpoint with a model bundle (--checkpoint)")
    common = {"model": model, "precision": precision, "batch_size": max_batch, "num_threads": num_threads}
    tagger = Tagger.from_checkpoint(checkpoint, labels=labels, **common)
    detector = SoundEventDetector.from_checkpoint(checkpoint, labels=tagger.labels, thresholds=sed_threshold, **common)
    embedder = Embedder.from_checkpoint(checkpoint, **common)
    return ServedModel(tagger.bundle.model, tagger, detector, embedder, precision)
