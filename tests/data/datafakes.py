"""Helpers for the data tests: tiny audio files written into tmp_path (imported by the test modules)."""

from pathlib import Path

import numpy as np
from audiocnn.testing import tone, write_wav


def wav(path, seconds=0.1, sr=8000, freq=440.0, amplitude=0.5) -> Path:
    """Write a short tone and return its path."""
    return write_wav(path, tone(freq, seconds, sr, amplitude=amplitude), sr)


def not_audio(path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("this is not audio\n")
    return path


def empty_wav(path, sr=8000) -> Path:
    return write_wav(path, np.zeros(0, dtype=np.float32), sr)


def nan_wav(path, sr=8000) -> Path:
    x = tone(300, 0.1, sr)
    x[10] = np.nan
    return write_wav(path, x, sr, subtype="FLOAT")

