"""Sound event detection: frame-wise probabilities, events, and the PANNs-style plot.

Frame-wise probabilities
    - Frame-level models (``model.info.frame_level``, e.g. ``cnn14_decision_level_max``) give them
      natively at ``model.info.frame_rate`` (100 frames/s for PANNs); frame ``i`` is centred at
      ``i / frame_rate`` seconds.
    - Any clip-level model works through sliding windows (default 2-s windows, 0.5-s hop): the
      window probabilities form a sequence at ``1 / hop`` frames/s, frame ``i`` standing for the
      window centred at ``time_offset + i * hop`` with ``time_offset = window / 2``.

Long files are processed in chunks (default 40 s) that overlap by a margin on each side (default
2.56 s, more than half the receptive field of Cnn14, about 1.75 s); each chunk contributes only the frames away
from its edges, and chunk starts are multiples of the model's time-pooling stride, so the
stitched result equals a single pass over the whole file (up to float rounding) while memory
stays flat in file length. The full frame-by-class matrix is kept only when it is small
(``keep_frames``); otherwise only events, per-class maxima and a decimated overview (for the plot)
are kept.

Events
    A class is active in a frame where its probability reaches the class threshold. Active runs
    separated by at most ``merge_gap`` seconds are merged; events shorter than ``min_duration``
    seconds (after merging) are dropped. An event is ``(onset, offset, label, score)`` in seconds
    with ``score`` the largest frame probability inside it. Frames are ``[i, i+1)`` intervals:
    onset = ``time_offset + first / frame_rate``, offset = ``time_offset + (last + 1) / frame_rate``,
    both clamped to the input (``[0, duration]``): no event ends after the file does. An input
    no longer than one window has a single frame, which stands for the whole input.

Many files
    :meth:`SoundEventDetector.detect_files` runs file after file; a file that cannot be read gets
    a result with ``error`` set (:mod:`audiocnn.errors`) and the others are not affected.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiocnn.audio import audio_info, check_waveform, iter_audio_chunks, windows_of
from audiocnn.errors import FileError
from audiocnn.features.spectrogram import LogMel
from audiocnn.inference.events import (
    Event,
    EventTracker,
    Thresholds,
    extract_events,
    write_events_csv,
)
from audiocnn.inference.loading import open_model
from audiocnn.inference.runtime import Runner
from audiocnn.inference.stream import log_resample
from audiocnn.models.base import AudioModel

__all__ = ["Event", "EventTracker", "SedResult", "SoundEventDetector", "extract_events", "plot_sed", "write_events_csv"]

log = logging.getLogger("audiocnn.inference")

DEFAULT_MODEL = "cnn14_decision_level_max"

# ``source(length, hop)`` -> ``(start sample, chunk)`` pairs of a file or an array
ChunkSource = Callable[[int, int], Iterator[tuple[int, np.ndarray]]]


# --------------------------------------------------------------------------------------------
# Detector


@dataclass
class SedResult:
    """Output of :meth:`SoundEventDetector.detect`.

    Attributes:
        events: detected events, by onset.
        frame_rate: frames per second of the probabilities.
        time_offset: time (s) of frame 0 (0 for frame-level models, window/2 for sliding windows).
        duration: input length in seconds.
        num_frames: number of frames.
        labels: class names.
        class_max: ``(classes,)`` largest frame probability of each class.
        frame_probabilities: ``(frames, classes)`` when kept (short inputs or ``keep_frames=True``).
        overview: ``(columns, classes)`` frame probabilities max-pooled over ``overview_hop`` frames.
        overview_hop: frames per overview column.
        spectrogram: ``(columns, 64)`` log-mel (dB) averaged over the same columns, for plots.
    """

    events: list[Event]
    frame_rate: float
    time_offset: float
    duration: float
    num_frames: int
    labels: list[str]
    class_max: np.ndarray
    overview: np.ndarray
    overview_hop: int
    spectrogram: np.ndarray
    frame_probabilities: np.ndarray | None = field(default=None, repr=False)
    path: str | None = None
    error: FileError | None = None

    @classmethod
    def failed(cls, path: str | os.PathLike, error: FileError, labels: Sequence[str]) -> SedResult:
        """The result of a file that could not be processed: no frames, no events, ``error`` set."""
        c = len(labels)
        return cls([], 0.0, 0.0, 0.0, 0, list(labels), np.zeros(c, np.float32), np.zeros((0, c), np.float32), 1,
                   np.zeros((0, 64), np.float32), None, str(path), error)

    def to_dict(self) -> dict:
        """``{"path", "duration", "frames", "frame_rate", "events": [...], "error": null}``, or for a
        file that failed the record ``{"path", "error": {"type", "message"}}``."""
        if self.error is not None:
            return {"path": self.path, "error": FileError.from_reason(self.error).to_dict()}
        return {"path": self.path, "duration": float(self.duration), "frames": self.num_frames, "frame_rate": self.frame_rate,
                "events": [ev.to_dict() for ev in self.events], "error": None}

    def top_classes(self, k: int = 5) -> list[int]:
        return [int(i) for i in np.argsort(-self.class_max, kind="stable")[:k]]


class _Decimator:
    """Max-pools (or mean-pools) rows in fixed blocks, streaming."""

    def __init__(self, hop: int, reduce: str = "max"):
        self.hop, self.reduce = hop, reduce
        self.rows: list[np.ndarray] = []
        self.buf: np.ndarray | None = None

    def update(self, x: np.ndarray) -> None:
        x = x if self.buf is None else np.concatenate([self.buf, x])
        full = (x.shape[0] // self.hop) * self.hop
        if full:
            blocks = x[:full].reshape(-1, self.hop, x.shape[1])
            self.rows.append(blocks.max(axis=1) if self.reduce == "max" else blocks.mean(axis=1))
        self.buf = x[full:]

    def finish(self, width: int) -> np.ndarray:
        if self.buf is not None and self.buf.shape[0]:
            self.rows.append(self.buf.max(axis=0, keepdims=True) if self.reduce == "max" else self.buf.mean(axis=0, keepdims=True))
        return np.concatenate(self.rows).astype(np.float32) if self.rows else np.zeros((0, width), np.float32)


class SoundEventDetector:
    """Frame-wise probabilities and events for any registered model.

    Args:
        model / checkpoint / labels / precision / batch_size / num_threads / calibration: as for
            :class:`~audiocnn.Tagger` (default model: ``cnn14_decision_level_max``).
        thresholds: scalar, per-class values or ``{label: value, "default": value}`` (default 0.5).
        min_duration: seconds (default 0.1).
        merge_gap: seconds (default 0.2).
        chunk_seconds / margin_seconds: chunking of long inputs (frame-level models).
        window_seconds / hop_seconds: sliding windows for clip-level models (default: the bundle's
            clip length up to 2 s / 0.5 s).
        keep_frames: keep the full ``(frames, classes)`` matrix: ``None`` = when under 20 M values.
    """

    def __init__(
        self,
        model: str | AudioModel | None = None,
        checkpoint: str | os.PathLike | None = None,
        labels: str | os.PathLike | Sequence[str] | None = None,
        precision: str = "fp32",
        batch_size: int = 8,
        num_threads: int | None = None,
        thresholds: Thresholds = 0.5,
        min_duration: float = 0.1,
        merge_gap: float = 0.2,
        chunk_seconds: float = 40.0,
        margin_seconds: float = 2.56,
        window_seconds: float | None = None,
        hop_seconds: float = 0.5,
        keep_frames: bool | None = None,
        activation: str | None = None,
        calibration: Any = None,
    ) -> None:
        if model is None and checkpoint is None:
            model = DEFAULT_MODEL
        net, self.bundle = open_model(model, checkpoint, labels, activation=activation)
        self.runner = Runner(net, precision=precision, copy=isinstance(model, AudioModel), num_threads=num_threads, calibration=calibration)
        self.info = net.info
        self.sample_rate = net.sample_rate
        self.labels = list(self.bundle.labels)
        self.activation = self.bundle.activation
        if window_seconds is None:  # the training clip, up to 2 s (finer in time than 10-s PANNs clips)
            window_seconds = min(self.bundle.windowing.clip_seconds, 2.0)
        hop_seconds = min(hop_seconds, window_seconds)
        self.thresholds, self.min_duration, self.merge_gap = thresholds, min_duration, merge_gap
        self.batch_size = batch_size
        self.keep_frames = keep_frames
        sr = self.sample_rate
        if self.info.frame_level:
            self.frame_rate = float(self.info.frame_rate)
            self.hop = int(round(sr / self.frame_rate))
            align = self.hop * int(getattr(net, "time_ratio", 1) or 1)
            self.margin = max(1, math.ceil(margin_seconds * sr / align)) * align
            chunk = max(int(chunk_seconds * sr), 2 * self.margin + align)
            self.chunk_hop = max(align, ((chunk - 2 * self.margin) // align) * align)
            self.chunk = self.chunk_hop + 2 * self.margin
            self.time_offset = 0.0
        else:
            self.window = max(int(round(window_seconds * sr)), self.info.min_samples)
            self.hop = max(1, int(round(hop_seconds * sr)))
            self.frame_rate = sr / self.hop
            self.time_offset = self.window / sr / 2
        self._display = LogMel(sr, *_display_stft(sr))

    @classmethod
    def from_checkpoint(cls, checkpoint: str | os.PathLike, **kwargs: Any) -> SoundEventDetector:
        """A detector for a checkpoint or model folder with a bundle; ``kwargs`` as the class."""
        return cls(kwargs.pop("model", None), checkpoint=checkpoint, **kwargs)

    # -- sources -----------------------------------------------------------------------------
    def _chunks_array(self, x: np.ndarray, length: int, hop: int) -> Iterator[tuple[int, np.ndarray]]:
        # the grid of iter_audio_chunks: every hop, the last chunk shorter
        return windows_of(x, length, hop, last="short")

    def _chunks_file(self, path: str | os.PathLike, length: int, hop: int) -> Iterator[tuple[int, np.ndarray]]:
        log_resample(path, audio_info(path)["sample_rate"], self.sample_rate)
        for start_s, chunk in iter_audio_chunks(path, length / self.sample_rate, self.sample_rate, hop / self.sample_rate):
            yield int(round(start_s * self.sample_rate)), chunk

    # -- frame probabilities -----------------------------------------------------------------
    def iter_frame_probabilities(self, source: ChunkSource, total_samples: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Yield consecutive ``(probabilities (frames, classes), audio for those frames)`` blocks
        (the audio only for frame-level models: ``None`` for sliding windows)."""
        if self.info.frame_level:
            chunks = source(self.chunk, self.chunk_hop)
            m_frames = self.margin // self.hop
            pending = None  # (start, chunk, probs) of the previous chunk
            for start, x in chunks:
                probs = self._framewise(x)
                if pending is not None:
                    yield self._keep(pending, m_frames, last=False)
                pending = (start, x, probs)
            if pending is not None:
                yield self._keep(pending, m_frames, last=True)
        else:
            batch, starts = [], []
            for start, x in source(self.window, self.hop):
                if x.shape[0] < self.window:
                    x = np.pad(x, (0, self.window - x.shape[0]))
                batch.append(x)
                starts.append(start)
                if len(batch) == self.batch_size:
                    yield self._window_probs(batch), None
                    batch = []
            if batch:
                yield self._window_probs(batch), None

    def _keep(self, pending: tuple[int, np.ndarray, np.ndarray], m_frames: int, last: bool) -> tuple[np.ndarray, np.ndarray]:
        start, x, probs = pending
        first = 0 if start == 0 else m_frames
        stop = probs.shape[0] if last else m_frames + self.chunk_hop // self.hop
        a0 = first * self.hop
        a1 = min(stop * self.hop, x.shape[0])
        return probs[first:stop], x[a0:a1]

    def _framewise(self, x: np.ndarray) -> np.ndarray:
        out = self.runner(torch.from_numpy(np.ascontiguousarray(x))[None])
        if "framewise_logits" not in out:
            raise ValueError(f"{self.info.name} is marked frame-level but returned no framewise_logits")
        fw = out["framewise_logits"][0].numpy()
        expected = 1 + max(x.shape[0], self.info.min_samples) // self.hop
        return self.bundle.probabilities(fw[:expected])

    def _window_probs(self, batch: list[np.ndarray]) -> np.ndarray:
        logits = self.runner(torch.from_numpy(np.stack(batch)))["logits"].numpy()
        return self.bundle.probabilities(logits)

    def frame_probabilities(self, waveform: np.ndarray, sample_rate: int | None = None) -> np.ndarray:
        """``(frames, classes)`` probabilities for a 1-D waveform (chunked like files)."""
        frames = self.detect(waveform, sample_rate=sample_rate, keep_frames=True).frame_probabilities
        assert frames is not None  # keep_frames=True keeps them
        return frames

    # -- detection ---------------------------------------------------------------------------
    def detect(self, source: str | os.PathLike | np.ndarray, sample_rate: int | None = None, keep_frames: bool | None = None) -> SedResult:
        """Events and frame probabilities of a file path or a 1-D waveform array (at
        ``sample_rate`` Hz, default the model's)."""
        sr = self.sample_rate
        path = None
        if isinstance(source, (str, os.PathLike)):
            path = str(source)
            info = audio_info(path)
            total = int(round(info["frames"] * sr / info["sample_rate"]))
            src = lambda length, hop: self._chunks_file(path, length, hop)  # noqa: E731
        else:
            x = check_waveform(source, "waveform")
            if sample_rate is not None and sample_rate != sr:
                from audiocnn.audio import resample

                log.info("resampling input from %d Hz to the model's %d Hz (soxr)", sample_rate, sr)
                x = resample(x, sample_rate, sr)
            total = x.shape[0]
            src = lambda length, hop: self._chunks_array(x, length, hop)  # noqa: E731
        if self.info.frame_level:
            n_frames = 1 + max(total, self.info.min_samples) // self.hop
        else:
            n_frames = 1 if total <= self.window else 1 + math.ceil((total - self.window) / self.hop)
        keep = keep_frames if keep_frames is not None else self.keep_frames
        if keep is None:
            keep = n_frames * len(self.labels) <= 20_000_000
        deci_hop = max(1, math.ceil(n_frames / 2000))
        tracker = EventTracker(self.labels, self.frame_rate, self.thresholds, self.min_duration, self.merge_gap, self.time_offset)
        over = _Decimator(deci_hop, "max")
        class_max = np.zeros(len(self.labels), dtype=np.float32)
        kept: list[np.ndarray] = []
        spec_parts: list[np.ndarray] = []
        count = 0
        for probs, audio in self.iter_frame_probabilities(src, total):
            tracker.update(probs)
            over.update(probs)
            np.maximum(class_max, probs.max(axis=0), out=class_max)
            if keep:
                kept.append(probs)
            if audio is not None and audio.shape[0]:
                spec_parts.append(self._display_spec(audio))
            count += probs.shape[0]
        if not spec_parts:  # clip-level models: a spectrogram of the whole input, decimated
            spec_parts = [self._display_spec_source(src, total)]
        spec = np.concatenate(spec_parts)
        spec_hop = max(1, math.ceil(spec.shape[0] / 2000))
        sd = _Decimator(spec_hop, "mean")
        sd.update(spec)
        return SedResult(
            events=_within(tracker.finish(), total / sr, 1.0 / self.frame_rate, whole=n_frames == 1),
            frame_rate=self.frame_rate,
            time_offset=self.time_offset,
            duration=total / sr,
            num_frames=count,
            labels=self.labels,
            class_max=class_max,
            overview=over.finish(len(self.labels)),
            overview_hop=deci_hop,
            spectrogram=sd.finish(spec.shape[1]),
            frame_probabilities=np.concatenate(kept) if keep and kept else None,
            path=path,
        )

    def _display_spec(self, audio: np.ndarray) -> np.ndarray:
        """Log-mel of ``audio`` at 10 frames/s (mean of 10-ms frames), for the plot only."""
        if audio.shape[0] <= self._display.n_fft // 2:  # the STFT's reflect padding needs more
            audio = np.pad(audio, (0, self._display.n_fft // 2 + 1 - audio.shape[0]))
        with torch.inference_mode():
            s = self._display(torch.from_numpy(np.ascontiguousarray(audio))[None])[0].numpy()
        step = max(1, int(round(self.sample_rate / self._display.hop_length / 10)))
        full = (s.shape[0] // step) * step
        head = s[:full].reshape(-1, step, s.shape[1]).mean(axis=1) if full else np.zeros((0, s.shape[1]), np.float32)
        return head if full == s.shape[0] else np.concatenate([head, s[full:].mean(axis=0, keepdims=True)])

    def detect_files(self, paths: str | os.PathLike | Iterable[str | os.PathLike], keep_frames: bool | None = None, errors: str = "record") -> list[SedResult]:
        """:meth:`detect` for each file (folders walked for audio files), in order. With
        ``errors="record"`` a file that cannot be read gets :meth:`SedResult.failed` (``error``
        set) and the rest go on; ``"raise"`` stops at the first."""
        from audiocnn.inference.stream import expand_paths

        if errors not in ("raise", "record"):
            raise ValueError(f"errors must be 'raise' or 'record', got {errors!r}")
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        out = []
        for path in expand_paths(list(paths)):
            try:
                out.append(self.detect(path, keep_frames=keep_frames))
            except Exception as e:  # noqa: BLE001 - one bad file must not stop the rest
                if errors == "raise":
                    raise
                log.debug("%s: %s", path, e)
                out.append(SedResult.failed(path, FileError.from_exception(e), self.labels))
        return out

    def _display_spec_source(self, src: ChunkSource, total: int) -> np.ndarray:
        seg = 60 * self.sample_rate
        return np.concatenate([self._display_spec(x[:seg]) for _, x in src(seg, seg)])


def _within(events: list[Event], duration: float, frame_seconds: float, whole: bool) -> list[Event]:
    """Events clamped to ``[0, duration]`` seconds; with ``whole`` (a single frame) each spans the
    whole input. An event whose onset falls at or past the end keeps its last frame's length."""
    out = []
    for ev in events:
        if whole:
            onset, offset = 0.0, duration
        else:
            offset = min(ev.offset, duration)
            onset = min(max(ev.onset, 0.0), offset)
            if offset - onset <= 0:
                onset = max(0.0, duration - frame_seconds)
        out.append(Event(onset, offset, ev.label, ev.score, ev.index))
    return out


def _display_stft(sr: int) -> tuple[int, int, int, float, float]:
    n_fft = 1 << max(6, int(round(math.log2(sr * 0.032))))
    return n_fft, max(1, sr // 100), 64, 50.0, min(14000.0, sr / 2)


# --------------------------------------------------------------------------------------------
# Plot


def plot_sed(result: SedResult, path: str | os.PathLike, top_k: int = 5, title: str | None = None) -> Path:
    """Log-mel spectrogram on top, the ``top_k`` classes' probability curves below, events shaded
    (the layout of the PANNs paper's SED figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(12, 6), sharex=True, gridspec_kw={"height_ratios": [1, 1.2]})
    dur = max(result.duration, 1e-3)
    ax0.imshow(result.spectrogram.T, origin="lower", aspect="auto", cmap="magma", extent=[0, dur, 0, result.spectrogram.shape[1]])
    ax0.set_ylabel("mel bin")
    ax0.set_title(title or (Path(result.path).name if result.path else "sound event detection"))
    cols = result.overview.shape[0]
    t = result.time_offset + (np.arange(cols) * result.overview_hop + result.overview_hop / 2) / result.frame_rate
    t = np.minimum(t, dur)
    top = result.top_classes(top_k)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, c in enumerate(top):
        color = colors[j % len(colors)]
        ax1.plot(t, result.overview[:, c], color=color, label=result.labels[c], lw=1.2)
        for ev in result.events:
            if ev.index == c:
                ax1.axvspan(ev.onset, ev.offset, color=color, alpha=0.12, lw=0)
    ax1.set_ylim(0, 1.02)
    ax1.set_xlim(0, dur)
    ax1.set_xlabel("time (s)")
    ax1.set_ylabel("probability")
    if result.overview_hop > 1:
        ax1.set_title(f"max over {result.overview_hop / result.frame_rate:.2f}-s bins", fontsize=9, loc="right")
    ax1.legend(loc="upper right", fontsize=8, ncol=min(len(top), 3))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
