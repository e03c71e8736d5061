"""Decoding, resampling and chunked reading of audio files.

Every function returns float32 samples in [-1, 1]. Failures raise :class:`AudioLoadError`
whose message starts with the file name and says what went wrong; the decoder's own
exception is chained (``raise ... from``) so nothing is lost.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

__all__ = [
    "AudioLoadError",
    "audio_info",
    "iter_audio_chunks",
    "load_audio",
    "resample",
    "to_mono",
]


class AudioLoadError(RuntimeError):
    """A file could not be turned into a usable waveform.

    Attributes:
        path: the file that failed.
        reason: a short human-readable reason (without the file name).
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def _open(path: str | os.PathLike) -> sf.SoundFile:
    p = Path(path)
    if not p.exists():
        raise AudioLoadError(p, "file not found")
    if p.is_dir():
        raise AudioLoadError(p, "is a directory, not an audio file")
    if p.stat().st_size == 0:
        raise AudioLoadError(p, "empty file (0 bytes)")
    try:
        return sf.SoundFile(str(p))
    except sf.LibsndfileError as e:  # unknown/unsupported/corrupt container
        raise AudioLoadError(p, f"not a readable audio file ({e.error_string.strip()})") from e
    except Exception as e:  # pragma: no cover - decoder-specific failures
        raise AudioLoadError(p, f"could not open ({type(e).__name__}: {e})") from e


def audio_info(path: str | os.PathLike) -> dict:
    """Sample rate, channels, frames and duration (seconds) without decoding the samples."""
    with _open(path) as f:
        return {
            "sample_rate": f.samplerate,
            "channels": f.channels,
            "frames": f.frames,
            "duration": f.frames / f.samplerate if f.samplerate else 0.0,
            "format": f.format,
            "subtype": f.subtype,
        }


def to_mono(x: np.ndarray) -> np.ndarray:
    """``(frames, channels)`` or ``(frames,)`` -> ``(frames,)`` by averaging channels."""
    if x.ndim == 1:
        return x
    return x.mean(axis=1, dtype=np.float32) if x.shape[1] > 1 else x[:, 0]


def resample(x: np.ndarray, orig_sr: int, target_sr: int, quality: str = "HQ") -> np.ndarray:
    """Band-limited resampling with soxr. ``x`` is ``(frames,)`` or ``(frames, channels)``."""
    if orig_sr == target_sr:
        return x
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    return soxr.resample(x, orig_sr, target_sr, quality=quality).astype(np.float32, copy=False)


def _check_samples(path, x: np.ndarray) -> None:
    if x.shape[0] == 0:
        raise AudioLoadError(path, "0 samples after decoding")
    if not np.all(np.isfinite(x)):
        bad = int((~np.isfinite(x)).sum())
        raise AudioLoadError(path, f"{bad} NaN/inf samples after decoding")


def load_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
) -> tuple[np.ndarray, int]:
    """Decode an audio file (WAV/FLAC/OGG/MP3 via libsndfile).

    Args:
        path: the file.
        sample_rate: resample to this rate (Hz); ``None`` keeps the file's rate.
        mono: average channels to one. If False the result is ``(channels, samples)``.
        offset: start reading this many seconds into the file.
        duration: read at most this many seconds (``None``: to the end).

    Returns:
        ``(waveform, sample_rate)``: float32 ``(samples,)`` (or ``(channels, samples)``) in
        [-1, 1], and the rate in Hz.

    Raises:
        AudioLoadError: missing file, not audio, unsupported format, 0 samples, NaN/inf.
    """
    if offset < 0:
        raise ValueError(f"offset must be >= 0 seconds, got {offset}")
    if duration is not None and duration <= 0:
        raise ValueError(f"duration must be > 0 seconds, got {duration}")
    with _open(path) as f:
        sr = f.samplerate
        start = int(round(offset * sr))
        if start >= f.frames > 0:
            raise AudioLoadError(path, f"offset {offset:.3f} s is past the end ({f.frames / sr:.3f} s)")
        n = -1 if duration is None else int(round(duration * sr))
        try:
            if start:
                f.seek(start)
            x = f.read(frames=n, dtype="float32", always_2d=True)
        except Exception as e:
            raise AudioLoadError(path, f"decoding failed ({type(e).__name__}: {e})") from e
    _check_samples(path, x)
    if mono:
        x = to_mono(x)
    if sample_rate is not None and sample_rate != sr:
        x = resample(x, sr, sample_rate)
        sr = sample_rate
    # Float files may exceed full scale slightly; integer PCM never does.
    np.clip(x, -1.0, 1.0, out=x)
    if x.ndim == 2:
        x = np.ascontiguousarray(x.T)
    return np.ascontiguousarray(x, dtype=np.float32), sr


def iter_audio_chunks(
    path: str | os.PathLike,
    chunk_seconds: float,
    sample_rate: int | None = None,
    hop_seconds: float | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """Read a long file in fixed chunks without loading it whole.

    Yields ``(start_seconds, mono_chunk)`` where each chunk holds ``chunk_seconds`` of audio
    at ``sample_rate`` (the last one may be shorter). With ``hop_seconds`` < ``chunk_seconds``
    the chunks overlap. Memory stays proportional to one chunk whatever the file length.
    Resampling is streamed (soxr keeps its filter state between blocks) so chunk edges are
    seamless.
    """
    if chunk_seconds <= 0:
        raise ValueError(f"chunk_seconds must be > 0, got {chunk_seconds}")
    hop_seconds = chunk_seconds if hop_seconds is None else hop_seconds
    if not 0 < hop_seconds <= chunk_seconds:
        raise ValueError(f"hop_seconds must be in (0, chunk_seconds], got {hop_seconds}")
    with _open(path) as f:
        in_sr = f.samplerate
        out_sr = sample_rate or in_sr
        chunk = int(round(chunk_seconds * out_sr))
        hop = int(round(hop_seconds * out_sr))
        block = max(int(round(hop_seconds * in_sr)), 1)
        stream = soxr.ResampleStream(in_sr, out_sr, 1, dtype="float32") if out_sr != in_sr else None
        buf = np.zeros(0, dtype=np.float32)
        emitted = 0  # samples (at out_sr) before buf[0]
        total_in = 0
        while True:
            try:
                x = f.read(frames=block, dtype="float32", always_2d=True)
            except Exception as e:
                raise AudioLoadError(path, f"decoding failed ({type(e).__name__}: {e})") from e
            last = x.shape[0] < block
            total_in += x.shape[0]
            if x.shape[0] and not np.all(np.isfinite(x)):
                raise AudioLoadError(path, "NaN/inf samples after decoding")
            x = to_mono(x)
            if stream is not None:
                x = stream.resample_chunk(x, last=last)
            buf = np.concatenate([buf, np.clip(x, -1.0, 1.0)])
            while buf.shape[0] >= chunk:
                yield emitted / out_sr, buf[:chunk].copy()
                buf = buf[hop:]
                emitted += hop
            if last:
                break
        if total_in == 0:
            raise AudioLoadError(path, "0 samples after decoding")
        # Remainder: emit it unless it is entirely covered by the previous chunk.
        if buf.shape[0] > 0 and (emitted == 0 or buf.shape[0] > chunk - hop):
            yield emitted / out_sr, buf.copy()
