"""Clip-level scores for every file of a manifest: one centre crop, or sliding windows averaged
per file."""

from __future__ import annotations

import numpy as np
import torch

from audiocnn.audio import crop_or_pad, sliding_windows
from audiocnn.models.base import AudioModel

__all__ = ["predict_manifest"]


@torch.no_grad()
def predict_manifest(
    model: AudioModel,
    manifest,
    cache,
    clip_seconds: float,
    *,
    windows: bool = False,
    hop_seconds: float | None = None,
    multilabel: bool = False,
    batch_size: int = 32,
) -> np.ndarray:
    """Probabilities ``(len(manifest.items), classes)``: softmax (single-label) or sigmoid
    (multi-label) of the model's logits.

    ``windows=False``: one ``clip_seconds`` centre crop per file (zero-padded if shorter).
    ``windows=True``: windows of ``clip_seconds`` every ``hop_seconds`` (default half a clip)
    covering the whole file; the window probabilities are averaged per file.
    """
    model.eval()
    sr = model.sample_rate
    length = int(round(clip_seconds * sr))
    hop = int(round((hop_seconds or clip_seconds / 2) * sr))
    chunks, owners = [], []
    for i, item in enumerate(manifest.items):
        x = cache.get(item.path)
        w = sliding_windows(x, length, max(1, hop)) if windows else crop_or_pad(x, length, "center")[None]
        chunks.append(w.astype(np.float32, copy=False))
        owners.extend([i] * len(w))
    if not chunks:
        return np.zeros((0, model.num_classes), dtype=np.float32)
    flat = np.concatenate(chunks)
    owners = np.asarray(owners)
    probs = []
    for s in range(0, len(flat), batch_size):
        logits = model(torch.from_numpy(flat[s : s + batch_size]))["logits"].float()
        probs.append((torch.sigmoid(logits) if multilabel else torch.softmax(logits, -1)).numpy())
    probs = np.concatenate(probs)
    out = np.zeros((len(manifest.items), probs.shape[1]), dtype=np.float64)
    np.add.at(out, owners, probs)
    return (out / np.bincount(owners, minlength=len(manifest.items))[:, None]).astype(np.float32)
