"""Events from frame-wise probabilities: thresholds per class, merging of close runs, minimum
durations, streaming over blocks of frames, and the events CSV.

A class is active in a frame where its probability reaches the class threshold. Active runs
separated by at most ``merge_gap`` seconds are merged; events shorter than ``min_duration``
seconds (after merging) are dropped. An event is ``(onset, offset, label, score)`` in seconds
with ``score`` the largest frame probability inside it. Frames are ``[i, i+1)`` intervals:
onset = ``time_offset + first / frame_rate``, offset = ``time_offset + (last + 1) / frame_rate``.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from audiocnn.atomic import atomic_path

__all__ = ["Event", "EventTracker", "Thresholds", "extract_events", "write_events_csv"]

Thresholds = float | Sequence[float] | np.ndarray | Mapping[str, float]
"""A detection threshold: one for every class, one per class (in class order), or
``{label: value, "default": value}``."""


@dataclass
class Event:
    onset: float
    offset: float
    label: str
    score: float
    index: int = -1

    def to_dict(self) -> dict:
        return asdict(self)


def _thresholds(thresholds: Thresholds, labels: Sequence[str]) -> np.ndarray:
    c = len(labels)
    if isinstance(thresholds, Mapping):
        default = float(thresholds.get("default", 0.5))
        out = np.full(c, default, dtype=np.float32)
        index = {name: i for i, name in enumerate(labels)}
        for k, v in thresholds.items():
            if k == "default":
                continue
            if k not in index:
                raise ValueError(f"threshold given for unknown label {k!r}")
            out[index[k]] = float(v)
        return out
    arr = np.asarray(thresholds, dtype=np.float32)
    if arr.ndim == 0:
        return np.full(c, float(arr), dtype=np.float32)
    if arr.shape != (c,):
        raise ValueError(f"thresholds: expected a scalar, a mapping or {c} values, got shape {arr.shape}")
    return arr


class EventTracker:
    """Streaming event extraction: feed blocks of frame probabilities in order, then
    :meth:`finish`. Memory holds only the open event of each class.

    Args:
        labels: class names (``len`` = number of classes).
        frame_rate: frames per second.
        thresholds: a scalar, one value per class, or ``{label: value, "default": value}``.
        min_duration: shortest kept event, seconds.
        merge_gap: runs separated by at most this many seconds are merged.
        time_offset: time of frame 0's start, seconds.
    """

    def __init__(self, labels: Sequence[str], frame_rate: float, thresholds: Thresholds = 0.5, min_duration: float = 0.0, merge_gap: float = 0.0, time_offset: float = 0.0):
        self.labels = list(labels)
        self.frame_rate = float(frame_rate)
        self.thr = _thresholds(thresholds, self.labels)
        # small epsilon so that e.g. 0.3 s at 100 frames/s is exactly 30 frames
        self.min_frames = math.ceil(min_duration * frame_rate - 1e-6)
        self.gap_frames = math.floor(merge_gap * frame_rate + 1e-6)
        self.time_offset = float(time_offset)
        c = len(self.labels)
        self.open_start = np.full(c, -1, dtype=np.int64)
        self.open_end = np.zeros(c, dtype=np.int64)
        self.open_score = np.zeros(c, dtype=np.float32)
        self.events: list[Event] = []
        self.next_frame = 0

    def _close(self, c: int) -> None:
        s, e = int(self.open_start[c]), int(self.open_end[c])
        if e - s >= max(self.min_frames, 1):
            self.events.append(
                Event(self.time_offset + s / self.frame_rate, self.time_offset + e / self.frame_rate, self.labels[c], float(self.open_score[c]), c)
            )
        self.open_start[c] = -1

    def update(self, probs: np.ndarray) -> None:
        """Add the next ``(frames, classes)`` block."""
        probs = np.asarray(probs)
        n = probs.shape[0]
        if n == 0:
            return
        base = self.next_frame
        active = probs >= self.thr[None, :]
        for c in np.flatnonzero(active.any(axis=0)):
            col = active[:, c].astype(np.int8)
            edges = np.diff(np.concatenate([[0], col, [0]]))
            starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
            for s, e in zip(starts, ends):
                score = float(probs[s:e, c].max())
                gs, ge = base + s, base + e
                if self.open_start[c] >= 0 and gs - self.open_end[c] <= self.gap_frames:
                    self.open_end[c] = ge
                    self.open_score[c] = max(self.open_score[c], score)
                else:
                    if self.open_start[c] >= 0:
                        self._close(int(c))
                    self.open_start[c], self.open_end[c], self.open_score[c] = gs, ge, score
        self.next_frame += n
        # close events whose gap can no longer be bridged
        stale = np.flatnonzero((self.open_start >= 0) & (self.next_frame - self.open_end > self.gap_frames))
        for c in stale:
            self._close(int(c))

    def finish(self) -> list[Event]:
        for c in np.flatnonzero(self.open_start >= 0):
            self._close(int(c))
        return sorted(self.events, key=lambda ev: (ev.onset, ev.index))


def extract_events(
    probs: np.ndarray,
    frame_rate: float,
    labels: Sequence[str] | None = None,
    thresholds: Thresholds = 0.5,
    min_duration: float = 0.0,
    merge_gap: float = 0.0,
    time_offset: float = 0.0,
) -> list[Event]:
    """Events from a ``(frames, classes)`` probability matrix (see the module docstring)."""
    probs = np.asarray(probs)
    if probs.ndim == 1:
        probs = probs[:, None]
    labels = list(labels) if labels is not None else [f"class_{i}" for i in range(probs.shape[1])]
    tracker = EventTracker(labels, frame_rate, thresholds, min_duration, merge_gap, time_offset)
    tracker.update(probs)
    return tracker.finish()


def write_events_csv(events: Sequence[Event], path: str | os.PathLike) -> Path:
    """Write ``onset,offset,label,score`` rows (seconds, 3 decimals) atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["onset", "offset", "label", "score"])
        for ev in events:
            w.writerow([f"{ev.onset:.3f}", f"{ev.offset:.3f}", ev.label, f"{ev.score:.4f}"])
    return path
