"""Helpers for tests (shipped in the package so downstream projects can use them too)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = ["make_tone_csv", "shared_data_dir", "tone", "write_wav"]


def tone(freq: float, seconds: float, sample_rate: int, amplitude: float = 0.5, phase: float = 0.0) -> np.ndarray:
    """A sine of ``freq`` Hz, float32 ``(samples,)``."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def write_wav(path: str | os.PathLike, waveform: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write ``waveform`` (``(samples,)`` or ``(samples, channels)``) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), waveform, sample_rate, subtype=subtype)
    return path


def shared_data_dir() -> Path | None:
    """``../shared/data`` next to the repository (or ``$AUDIOCNN_SHARED_DATA``), if present."""
    env = os.environ.get("AUDIOCNN_SHARED_DATA")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [p / "shared" / "data" for p in here.parents[:6]]
    candidates += [Path.cwd().parent / "shared" / "data"]
    for c in candidates:
        if (c / "fsdd" / "metadata.csv").exists():
            return c
    return None


TONE_CLASSES = {"low": 400.0, "mid": 1200.0, "high": 3000.0}


def make_tone_csv(
    root: str | os.PathLike,
    per_class: int = 6,
    folds: int = 3,
    seconds: float = 0.5,
    multilabel: bool = False,
    extra_rows=(),
    sample_rate: int = 16000,
) -> Path:
    """A tiny labelled dataset for tests: 3 classes of noisy tones (``low``, ``mid``, ``high``),
    ``per_class`` WAVs each of about ``seconds`` (0.8x to 1.2x), and ``root/meta.csv`` with
    ``filename,label,fold`` (``filename,labels,fold`` with ``multilabel``: every ``high`` clip is
    also ``bright``). Returns the CSV path."""
    import csv

    rng = np.random.default_rng(0)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, f in TONE_CLASSES.items():
        for j in range(per_class):
            t = np.arange(int(sample_rate * seconds * rng.uniform(0.8, 1.2))) / sample_rate
            x = 0.3 * np.sin(2 * np.pi * f * rng.uniform(0.95, 1.05) * t) + 0.02 * rng.standard_normal(t.size)
            fn = f"{name}_{j}.wav"
            write_wav(root / fn, x.astype(np.float32), sample_rate)
            rows.append({"filename": fn, "label": name, "fold": str(j % folds + 1)})
    if multilabel:
        for r in rows:
            r["labels"] = r["label"] + (";bright" if r["label"] == "high" else "")
            del r["label"]
    rows += list(extra_rows)
    path = root / "meta.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    return path
