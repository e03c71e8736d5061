"""Helpers for tests (shipped in the package so downstream projects can use them too)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = ["shared_data_dir", "tone", "write_wav"]


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
