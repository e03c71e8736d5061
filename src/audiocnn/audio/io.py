"""Decoding, resampling and chunked reading of audio files.

Every function returns float32 samples in [-1, 1]. Failures raise :class:`AudioLoadError`
whose message starts with the file name and says what went wrong, and whose ``code`` names the
kind of failure (``not_audio``, ``no_samples``... the table in docs/reliability.md); the
decoder's own exception is chained (``raise ... from``) so nothing is lost.

What is accepted: any file libsndfile decodes with at least one sample and a sample rate from
1 Hz to :data:`MAX_SAMPLE_RATE`; resampling never turns a non-empty input into an empty one.
Arrays given to the Python API go through :func:`check_waveform` (integer PCM rescaled to
[-1, 1], NaN/inf and empty inputs refused with the input named).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from audiocnn.errors import AudiocnnError

__all__ = [
    "MAX_SAMPLE_RATE",
    "AudioLoadError",
    "audio_info",
    "check_waveform",
    "iter_audio_chunks",
    "load_audio",
    "resample",
    "to_mono",
]


#: Highest sample rate (Hz) accepted from a file header: 768 kHz, the highest rate of audio
#: interfaces. A header claiming more is damaged or hostile (reading one block of it would
#: allocate gigabytes).
MAX_SAMPLE_RATE = 768_000


class AudioLoadError(AudiocnnError, RuntimeError):
    """A file could not be turned into a usable waveform.

    Attributes:
        path: the file that failed.
        reason: a short human-readable reason (without the file name).
        code: the kind of failure, a stable short name (``file_not_found``, ``not_a_file``,
            ``empty_file``, ``not_audio``, ``bad_sample_rate``, ``no_samples``, ``non_finite``,
            ``decode_failed``, ``past_end``, ``unreadable``).
    """

    def __init__(self, path: str | os.PathLike, reason: str, code: str = "not_audio"):
        self.path = str(path)
        self.reason = reason
        self.code = code
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:  # keeps path, reason and code through pickling (worker processes)
        return (type(self), (self.path, self.reason, self.code))


def _open(path: str | os.PathLike) -> sf.SoundFile:
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise AudioLoadError(p, "file not found", "file_not_found") from None
    except OSError as e:
        raise AudioLoadError(p, f"cannot stat ({e.strerror or e})", "unreadable") from e
    if p.is_dir():
        raise AudioLoadError(p, "is a directory, not an audio file", "not_a_file")
    if st.st_size == 0:
        raise AudioLoadError(p, "empty file (0 bytes)", "empty_file")
    try:
        f = sf.SoundFile(str(p))
    except sf.LibsndfileError as e:  # unknown/unsupported/corrupt container
        raise AudioLoadError(p, f"not a readable audio file ({e.error_string.strip()})", "not_audio") from e
    except Exception as e:  # noqa: BLE001 - decoder-specific failures (permissions, odd headers)
        raise AudioLoadError(p, f"not a readable audio file ({type(e).__name__}: {e})", "not_audio") from e
    if not 0 < f.samplerate <= MAX_SAMPLE_RATE:
        f.close()
        raise AudioLoadError(p, f"sample rate {f.samplerate} Hz in the header is outside 1..{MAX_SAMPLE_RATE} Hz "
                                "(a damaged or hostile header)", "bad_sample_rate")
    return f


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
    """Band-limited resampling with soxr. ``x`` is ``(frames,)`` or ``(frames, channels)``.

    The result has about ``frames * target_sr / orig_sr`` frames, and at least one when ``x`` has
    any (a single sample resampled to a lower rate is kept as one sample, not dropped).
    """
    if orig_sr == target_sr:
        return x
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    y = soxr.resample(x, orig_sr, target_sr, quality=quality).astype(np.float32, copy=False)
    if y.shape[0] == 0 and x.shape[0] > 0:
        y = _one_frame(x)
    return y


def _one_frame(x: np.ndarray) -> np.ndarray:
    """The mean of ``x`` over time as a single frame: what is left of a handful of samples
    resampled to a rate too low to keep any."""
    return np.asarray(x, dtype=np.float32).mean(axis=0, keepdims=True).astype(np.float32)


def _check_samples(path: str | os.PathLike, x: np.ndarray) -> None:
    if x.shape[0] == 0:
        raise AudioLoadError(path, "0 samples after decoding", "no_samples")
    if not np.all(np.isfinite(x)):
        bad = int((~np.isfinite(x)).sum())
        raise AudioLoadError(path, f"{bad} NaN/inf samples after decoding", "non_finite")


def check_waveform(x: Any, what: str = "input", *, allow_2d: bool = False) -> np.ndarray:
    """An array given to the Python API as a float32 waveform in [-1, 1], or a named error.

    Args:
        x: ``(samples,)`` (or ``(batch, samples)`` with ``allow_2d``) array, tensor or list.
            Float input is taken as is (float64 is converted); integer PCM is rescaled
            (int16 by 1/32768, int32 by 1/2**31, uint8 centred on 128, int8 by 1/128).
        what: how to name the input in messages (``"waveform 3"``).

    Raises:
        ValueError: ``"<what>: <rule>"``: not numeric, wrong number of dimensions, no samples,
            NaN/inf samples.
    """
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise ValueError(f"{what}: expected a numeric array of samples, got dtype {a.dtype}")
    if a.dtype.kind == "b":
        raise ValueError(f"{what}: expected samples, got a boolean array")
    ndims = (1, 2) if allow_2d else (1,)
    if a.ndim not in ndims:
        want = "(samples,) or (batch, samples)" if allow_2d else "a 1-D waveform (samples,)"
        raise ValueError(f"{what}: expected {want}, got shape {a.shape}")
    if a.shape[-1] == 0 or a.size == 0:
        raise ValueError(f"{what}: no samples (an empty waveform)")
    if a.dtype.kind in "iu":
        info = np.iinfo(a.dtype)
        if a.dtype.kind == "u":
            mid = (int(info.max) + 1) / 2
            a = (a.astype(np.float64) - mid) / mid
        else:
            a = a.astype(np.float64) / (-float(info.min))
        return a.astype(np.float32)
    a = a.astype(np.float32, copy=False)
    if not np.all(np.isfinite(a)):
        bad = int((~np.isfinite(a)).sum())
        raise ValueError(f"{what}: {bad} NaN/inf sample(s)")
    return a


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
        AudioLoadError: missing file, not audio, unsupported format, sample rate outside
            1..768 kHz, 0 samples, NaN/inf (``code`` says which).
    """
    if offset < 0:
        raise ValueError(f"offset must be >= 0 seconds, got {offset}")
    if duration is not None and duration <= 0:
        raise ValueError(f"duration must be > 0 seconds, got {duration}")
    with _open(path) as f:
        sr = f.samplerate
        start = int(round(offset * sr))
        if start >= f.frames > 0:
            raise AudioLoadError(path, f"offset {offset:.3f} s is past the end ({f.frames / sr:.3f} s)", "past_end")
        n = -1 if duration is None else int(round(duration * sr))
        try:
            if start:
                f.seek(start)
            x = f.read(frames=n, dtype="float32", always_2d=True)
        except Exception as e:
            raise AudioLoadError(path, f"decoding failed ({type(e).__name__}: {e})", "decode_failed") from e
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
        chunk = max(1, int(round(chunk_seconds * out_sr)))  # at least one sample, at any rate
        hop = min(chunk, max(1, int(round(hop_seconds * out_sr))))
        block = max(int(round(hop_seconds * in_sr)), 1)
        stream = soxr.ResampleStream(in_sr, out_sr, 1, dtype="float32") if out_sr != in_sr else None
        buf = np.zeros(0, dtype=np.float32)
        emitted = 0  # samples (at out_sr) before buf[0]
        total_in = 0
        tail = np.zeros(1, dtype=np.float32)
        while True:
            try:
                x = f.read(frames=block, dtype="float32", always_2d=True)
            except Exception as e:
                raise AudioLoadError(path, f"decoding failed ({type(e).__name__}: {e})", "decode_failed") from e
            last = x.shape[0] < block
            total_in += x.shape[0]
            if x.shape[0] and not np.all(np.isfinite(x)):
                raise AudioLoadError(path, "NaN/inf samples after decoding", "non_finite")
            x = to_mono(x)
            if x.shape[0]:
                tail = x[-1:]
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
            raise AudioLoadError(path, "0 samples after decoding", "no_samples")
        if emitted == 0 and buf.shape[0] == 0:  # a few samples resampled to a lower rate: keep one
            buf = np.clip(tail, -1.0, 1.0).astype(np.float32)
        # Remainder: emit it unless it is entirely covered by the previous chunk.
        if buf.shape[0] > 0 and (emitted == 0 or buf.shape[0] > chunk - hop):
            yield emitted / out_sr, buf.copy()
