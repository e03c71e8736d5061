"""Fixed-length clips from variable-length waveforms."""

from __future__ import annotations

import numpy as np

__all__ = ["crop_or_pad", "sliding_windows"]


def crop_or_pad(
    x: np.ndarray, length: int, mode: str = "center", rng: np.random.Generator | None = None
) -> np.ndarray:
    """Return exactly ``length`` samples of the 1-D waveform ``x``.

    Longer inputs are cropped (``mode``: ``"center"``, ``"start"`` or ``"random"``, the
    latter drawing the offset from ``rng``); shorter ones are zero-padded at the end.
    """
    n = x.shape[-1]
    if n == length:
        return x
    if n < length:
        pad = [(0, 0)] * (x.ndim - 1) + [(0, length - n)]
        return np.pad(x, pad)
    if mode == "center":
        start = (n - length) // 2
    elif mode == "start":
        start = 0
    elif mode == "random":
        rng = rng or np.random.default_rng()
        start = int(rng.integers(0, n - length + 1))
    else:
        raise ValueError(f"mode must be 'center', 'start' or 'random', got {mode!r}")
    return x[..., start : start + length]


def sliding_windows(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Split a 1-D waveform into ``(windows, length)`` windows ``hop`` samples apart.

    The last window is zero-padded so that every sample is covered; a waveform shorter than
    ``length`` gives one padded window.
    """
    if length <= 0 or hop <= 0:
        raise ValueError(f"length and hop must be positive, got {length}, {hop}")
    n = x.shape[-1]
    count = 1 if n <= length else 1 + int(np.ceil((n - length) / hop))
    total = (count - 1) * hop + length
    x = np.pad(x, (0, max(total - n, 0)))
    idx = np.arange(length)[None, :] + hop * np.arange(count)[:, None]
    return x[idx]
