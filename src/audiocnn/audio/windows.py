"""Cutting audio into windows and putting the window outputs back together.

This module is the one owner of that mechanism: training crops, evaluation, tagging, sound event
detection frames, embeddings, the HEAR timestamps and serving all call it, so a model is scored
the same way wherever it runs.

Conventions (``n`` = input samples, ``window`` and ``hop`` in samples):

- An input no longer than one window is **one** window: zero-padded at the end to the window
  length when ``pad_short`` (what training does with short clips), else processed at its own
  length (what the PANNs code does with short inputs).
- A longer input gives windows at ``0, hop, 2 hop, ...``. With ``last="end"`` (the default) a
  final window is aligned with the end of the input, so every window is full and nothing is
  padded; with ``last="pad"`` the windows stay on the ``hop`` grid and the last one is zero-padded
  (sound event detection needs the regular grid); ``last="short"`` keeps the grid and leaves the
  last window short (the chunks of :func:`~audiocnn.audio.iter_audio_chunks`).
- The outputs of the windows of one input are combined by :func:`aggregate` (``"mean"`` or
  ``"max"``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from audiocnn.audio.io import iter_audio_chunks

__all__ = [
    "AGGREGATES",
    "Windowing",
    "aggregate",
    "apply_windowed",
    "centred_windows",
    "crop_or_pad",
    "iter_file_windows",
    "sliding_windows",
    "window_starts",
    "windows_of",
]

AGGREGATES = ("mean", "max")


def crop_or_pad(
    x: np.ndarray, length: int, mode: str = "center", rng: np.random.Generator | None = None,
    pad_at: str = "end",
) -> np.ndarray:
    """Exactly ``length`` samples of the waveform ``x`` (last axis).

    Longer inputs are cropped (``mode``: ``"center"``, ``"start"`` or ``"random"``, the latter
    drawing the offset from ``rng``); shorter ones are zero-padded at the end, or with
    ``pad_at="random"`` placed at an offset drawn from ``rng`` with zeros on both sides (a
    random time shift of the sound inside the clip).
    """
    if pad_at not in ("end", "random"):
        raise ValueError(f"pad_at must be 'end' or 'random', got {pad_at!r}")
    n = x.shape[-1]
    if n == length:
        return x
    if n < length:
        before = 0
        if pad_at == "random":
            before = int((rng or np.random.default_rng()).integers(0, length - n + 1))
        pad = [(0, 0)] * (x.ndim - 1) + [(before, length - n - before)]
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


def window_starts(n: int, window: int, hop: int, last: str = "end") -> list[int]:
    """Start samples of the windows covering ``n`` samples (see the module docstring)."""
    if window <= 0 or hop <= 0:
        raise ValueError(f"window and hop must be positive, got {window}, {hop}")
    if last not in ("end", "pad", "short"):
        raise ValueError(f"last must be 'end', 'pad' or 'short', got {last!r}")
    if n <= window:
        return [0]
    if last in ("pad", "short"):
        return list(range(0, n - window + hop, hop))
    starts = list(range(0, n - window + 1, hop))
    if starts[-1] + window < n:
        starts.append(n - window)
    return starts


def windows_of(
    x: np.ndarray, window: int, hop: int | None = None, *, pad_short: bool = False, last: str = "end",
    min_length: int = 0,
) -> Iterator[tuple[int, np.ndarray]]:
    """``(start_sample, samples)`` for each window of the 1-D waveform ``x``; a window left
    shorter than ``min_length`` (an unpadded short input) is zero-padded to it."""
    hop = window if hop is None else hop
    n = x.shape[0]
    for s in window_starts(n, window, hop, last):
        w = x[s : s + window]
        if w.shape[0] < window and (pad_short if n <= window else last != "short"):
            w = np.pad(w, (0, window - w.shape[0]))
        elif w.shape[0] < min_length:
            w = np.pad(w, (0, min_length - w.shape[0]))
        yield s, w


def sliding_windows(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """``(windows, length)`` windows ``hop`` samples apart on a regular grid; the last one is
    zero-padded so that every sample is covered, and a shorter input gives one padded window."""
    return np.stack([w for _, w in windows_of(x, length, hop, pad_short=True, last="pad")])


def centred_windows(x: np.ndarray, window: int, hop: int) -> np.ndarray:
    """``(1 + n // hop, window)`` windows centred at ``0, hop, 2 hop, ...`` samples: the input is
    zero-padded by half a window at both ends (the HEAR timestamp convention)."""
    half = window // 2
    padded = np.pad(x, (half, window - half))
    count = 1 + x.shape[0] // hop
    idx = np.arange(window)[None, :] + hop * np.arange(count)[:, None]
    return padded[idx]


def aggregate(outputs: np.ndarray, owners: np.ndarray, n: int, how: str = "mean") -> np.ndarray:
    """Combine window outputs ``(windows, ...)`` into ``(n, ...)`` per input: ``owners[i]`` is the
    input window ``i`` came from. Every input must own at least one window."""
    if how not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {how!r}")
    owners = np.asarray(owners, dtype=np.int64)
    counts = np.bincount(owners, minlength=n)
    if n and counts.min() == 0:
        raise ValueError(f"input {int(np.argmin(counts))} has no window")
    outputs = np.asarray(outputs, dtype=np.float64)
    if how == "mean":
        out = np.zeros((n, *outputs.shape[1:]), dtype=np.float64)
        np.add.at(out, owners, outputs)
        out /= counts.reshape(-1, *([1] * (outputs.ndim - 1)))
    else:
        out = np.full((n, *outputs.shape[1:]), -np.inf, dtype=np.float64)
        np.maximum.at(out, owners, outputs)
    return out.astype(np.float32)


@dataclass(frozen=True)
class Windowing:
    """How a model cuts an input into windows and combines their outputs.

    Attributes:
        clip_seconds: window length, seconds (the clip length the model was trained on).
        hop_seconds: hop between the windows of a long input, seconds (``None``: one window).
        pad_short: zero-pad inputs shorter than a window to the window length.
        aggregate: ``"mean"`` or ``"max"`` over the windows of one input.
    """

    clip_seconds: float
    hop_seconds: float | None = None
    pad_short: bool = True
    aggregate: str = "mean"

    def __post_init__(self) -> None:
        if not self.clip_seconds > 0:
            raise ValueError(f"clip_seconds must be > 0, got {self.clip_seconds}")
        if self.hop_seconds is not None and not 0 < self.hop_seconds <= self.clip_seconds:
            raise ValueError(f"hop_seconds must be in (0, clip_seconds], got {self.hop_seconds}")
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, got {self.aggregate!r}")

    def sizes(self, sample_rate: int, min_samples: int = 0) -> tuple[int, int]:
        """``(window, hop)`` in samples at ``sample_rate``; the window is at least ``min_samples``."""
        window = max(int(round(self.clip_seconds * sample_rate)), int(min_samples), 1)
        hop = window if self.hop_seconds is None else max(1, int(round(self.hop_seconds * sample_rate)))
        return window, min(hop, window)

    def split(self, x: np.ndarray, sample_rate: int, min_samples: int = 0) -> list[tuple[int, np.ndarray]]:
        """The ``(start_sample, samples)`` windows of the 1-D waveform ``x``."""
        window, hop = self.sizes(sample_rate, min_samples)
        return list(windows_of(x, window, hop, pad_short=self.pad_short, min_length=min_samples))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Windowing:
        return cls(**{k: d[k] for k in ("clip_seconds", "hop_seconds", "pad_short", "aggregate") if k in d})


def iter_file_windows(
    path: str | os.PathLike,
    sample_rate: int,
    window: int,
    hop: int | None = None,
    *,
    pad_short: bool = False,
) -> Iterator[tuple[float, np.ndarray]]:
    """:func:`windows_of` for a file read chunk by chunk (memory flat in file length):
    ``(start_seconds, samples)`` at ``sample_rate``, the same windows as
    ``windows_of(load_audio(path, sample_rate)[0], window, hop, pad_short=pad_short)``."""
    hop = window if hop is None else hop
    if not 0 < hop <= window:
        raise ValueError(f"hop must be in (0, window], got {hop} for window {window}")
    prev = None
    for start_s, chunk in iter_audio_chunks(path, window / sample_rate, sample_rate, hop / sample_rate):
        if chunk.shape[0] < window:
            if prev is None:  # the whole file is shorter than a window
                yield start_s, (np.pad(chunk, (0, window - chunk.shape[0])) if pad_short else chunk)
                return
            # chunk covers [s + hop, e), prev covers [s, s + window); emit [e - window, e)
            r = chunk.shape[0]
            tail = np.concatenate([prev[hop + r - window :], chunk[window - hop :]])
            yield start_s + r / sample_rate - window / sample_rate, tail
            return
        yield start_s, chunk
        prev = chunk


def apply_windowed(
    fn: Callable[[np.ndarray], np.ndarray],
    waveforms: Sequence[np.ndarray],
    window: int,
    hop: int | None = None,
    *,
    pad_short: bool = True,
    how: str = "mean",
    batch_size: int = 32,
    min_length: int = 0,
) -> np.ndarray:
    """Run ``fn`` over the windows of every waveform and combine them per waveform.

    ``fn`` maps a ``(batch, samples)`` float32 array of equal-length windows to ``(batch, ...)``
    outputs (a model's probabilities, embeddings, ...). Windows are batched in input order, at most
    ``batch_size`` at a time, and a batch only holds windows of one length (inputs shorter than a
    window keep their own length unless ``pad_short``, zero-padded to ``min_length`` at least).
    Returns ``(len(waveforms), ...)`` float32.
    """
    owners: list[int] = []
    outputs: list[np.ndarray] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        if pending:
            outputs.append(np.asarray(fn(np.stack(pending).astype(np.float32, copy=False))))
            pending.clear()

    for i, x in enumerate(waveforms):
        for _, w in windows_of(np.asarray(x), window, hop, pad_short=pad_short, min_length=min_length):
            if pending and (len(pending) >= batch_size or pending[0].shape[0] != w.shape[0]):
                flush()
            pending.append(w)
            owners.append(i)
    flush()
    if not outputs:
        raise ValueError("no waveform to process")
    return aggregate(np.concatenate(outputs), np.asarray(owners), len(waveforms), how)
