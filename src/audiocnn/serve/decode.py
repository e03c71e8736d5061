"""Request bodies to waveforms: size limits, multipart parsing and decoding, all in memory.

A body is one of

- raw audio bytes (``Content-Type: audio/*`` or ``application/octet-stream``): any format
  libsndfile decodes (WAV, FLAC, OGG/Vorbis, Opus in OGG, MP3, AIFF ...);
- ``multipart/form-data`` with one file part (``curl -F file=@clip.wav``);
- JSON ``{"samples": [...], "sample_rate": 32000}``: mono samples in [-1, 1].

Nothing is written to disk: the body is read into memory up to ``max_bytes`` (the request is
refused as soon as it goes past), multipart is parsed from that buffer, and soundfile decodes
from an :class:`io.BytesIO`. Every failure is a :class:`RequestError` carrying the HTTP status
and an error type for the JSON error body.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from audiocnn.audio import resample, to_mono

__all__ = ["Audio", "RequestError", "decode_body", "decode_bytes", "read_body", "samples_from_json", "split_multipart"]

MIN_RATE, MAX_RATE = 1000, 384000


class RequestError(Exception):
    """A request that cannot be served: ``status`` (HTTP), ``type`` (short, stable, for clients)
    and a message that says what was wrong and what the limit is."""

    def __init__(self, status: int, type: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.type, self.message = status, type, message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"type": self.type, "message": self.message}}


@dataclass
class Audio:
    """A decoded request: mono float32 ``samples`` ``(n,)`` at ``sample_rate`` Hz."""

    samples: np.ndarray
    sample_rate: int
    source_rate: int

    @property
    def duration(self) -> float:
        return self.samples.shape[0] / self.sample_rate


async def read_body(chunks: AsyncIterator[bytes], max_bytes: int, declared: str | None = None) -> bytes:
    """The whole body from ``chunks`` (``request.stream()``), refused with 413 as soon as it
    exceeds ``max_bytes`` (or when its ``Content-Length``, ``declared``, already does)."""
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise RequestError(400, "bad_request", f"Content-Length is not a number: {declared!r}") from None
        if n > max_bytes:
            raise RequestError(413, "too_large", f"body of {n} bytes exceeds the limit of {max_bytes} bytes")
    buf = bytearray()
    async for chunk in chunks:
        buf += chunk
        if len(buf) > max_bytes:
            raise RequestError(413, "too_large", f"body exceeds the limit of {max_bytes} bytes")
    return bytes(buf)


def split_multipart(body: bytes, content_type: str) -> bytes:
    """The content of the single file part of a ``multipart/form-data`` body (the first part
    with a ``filename``, else the first part)."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise RequestError(400, "bad_request", "multipart/form-data without a boundary")
    parts: list[list] = []  # [has a filename, content]
    header = {"field": b"", "value": b""}

    def on_part_begin():
        parts.append([False, bytearray()])

    def on_header_field(data, start, end):
        header["field"] += data[start:end]

    def on_header_value(data, start, end):
        header["value"] += data[start:end]

    def on_header_end():
        if header["field"].lower() == b"content-disposition" and b"filename=" in header["value"]:
            parts[-1][0] = True
        header["field"], header["value"] = b"", b""

    def on_part_data(data, start, end):
        parts[-1][1].extend(data[start:end])

    callbacks = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_part_data": on_part_data,
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except Exception as e:  # noqa: BLE001 - any parser failure is the client's malformed body
        raise RequestError(400, "bad_request", f"malformed multipart/form-data body ({type(e).__name__}: {e})") from None
    if not parts:
        raise RequestError(400, "bad_request", "multipart/form-data body has no part; send the audio as a file part (curl -F file=@clip.wav)")
    files = [p for p in parts if p[0]] or parts
    return bytes(files[0][1])


def _check(x: np.ndarray, rate: int, target_rate: int, what: str) -> Audio:
    if x.shape[0] == 0:
        raise RequestError(422, "empty_audio", f"{what}: 0 samples")
    if not np.all(np.isfinite(x)):
        raise RequestError(422, "invalid_audio", f"{what}: {int((~np.isfinite(x)).sum())} NaN/inf samples")
    x = np.clip(x, -1.0, 1.0)
    y = resample(x, rate, target_rate) if rate != target_rate else x
    return Audio(np.ascontiguousarray(y, dtype=np.float32), target_rate, rate)


def decode_bytes(data: bytes, target_rate: int, max_seconds: float, max_channels: int = 16) -> Audio:
    """Decode an audio file held in memory to mono at ``target_rate`` Hz.

    The duration and channel count are checked from the header before the samples are decoded,
    so a long file costs no memory.
    """
    if not data:
        raise RequestError(422, "empty_audio", "the request body is empty: send the audio file as the body or as a file part")
    try:
        f = sf.SoundFile(io.BytesIO(data))
    except Exception as e:  # noqa: BLE001 - libsndfile's reason is passed on
        reason = getattr(e, "error_string", None) or str(e)
        raise RequestError(415, "undecodable_audio", f"not a readable audio file ({reason.strip()}); formats: WAV, FLAC, OGG, MP3, AIFF") from None
    with f:
        rate, channels, frames = f.samplerate, f.channels, f.frames
        if not MIN_RATE <= rate <= MAX_RATE:
            raise RequestError(422, "invalid_audio", f"sample rate {rate} Hz is outside {MIN_RATE}..{MAX_RATE} Hz")
        if channels > max_channels:
            raise RequestError(422, "invalid_audio", f"{channels} channels; at most {max_channels} are accepted")
        if frames > 0 and frames / rate > max_seconds:
            raise RequestError(413, "too_long", f"audio of {frames / rate:.1f} s exceeds the limit of {max_seconds:g} s")
        try:
            # frames may be unknown (0 or an estimate) for some containers: read at most the limit + 1 frame
            x = f.read(frames=int(math.ceil(max_seconds * rate)) + 1, dtype="float32", always_2d=True)
        except Exception as e:  # noqa: BLE001
            raise RequestError(415, "undecodable_audio", f"decoding failed ({type(e).__name__}: {e})") from None
    if x.shape[0] / rate > max_seconds:
        raise RequestError(413, "too_long", f"audio exceeds the limit of {max_seconds:g} s")
    return _check(to_mono(x), rate, target_rate, "decoded audio")


def samples_from_json(data: bytes, target_rate: int, max_seconds: float) -> Audio:
    """``{"samples": [...], "sample_rate": N}`` to mono audio at ``target_rate`` Hz.
    ``sample_rate`` defaults to ``target_rate``."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise RequestError(400, "bad_request", f"body is not valid JSON ({e})") from None
    if not isinstance(obj, dict) or "samples" not in obj:
        raise RequestError(400, "bad_request", 'expected a JSON object {"samples": [...], "sample_rate": N}')
    rate = obj.get("sample_rate", target_rate)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate != int(rate) or not MIN_RATE <= rate <= MAX_RATE:
        raise RequestError(422, "invalid_audio", f"sample_rate must be an integer in {MIN_RATE}..{MAX_RATE} Hz, got {rate!r}")
    rate = int(rate)
    samples = obj["samples"]
    if not isinstance(samples, list):
        raise RequestError(422, "invalid_audio", "samples must be a flat JSON array of numbers")
    if len(samples) / rate > max_seconds:
        raise RequestError(413, "too_long", f"audio of {len(samples) / rate:.1f} s exceeds the limit of {max_seconds:g} s")
    try:
        x = np.asarray(samples, dtype=np.float32)
    except (TypeError, ValueError):
        raise RequestError(422, "invalid_audio", "samples must be a flat JSON array of numbers") from None
    if x.ndim != 1:
        raise RequestError(422, "invalid_audio", f"samples must be a flat (mono) array, got shape {x.shape}")
    return _check(x, rate, target_rate, "samples")


def decode_body(body: bytes, content_type: str, target_rate: int, max_seconds: float, max_channels: int = 16) -> Audio:
    """Dispatch on ``content_type`` (see the module docstring)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json":
        return samples_from_json(body, target_rate, max_seconds)
    if media == "multipart/form-data":
        return decode_bytes(split_multipart(body, content_type), target_rate, max_seconds, max_channels)
    if media in ("", "application/octet-stream") or media.startswith("audio/"):
        return decode_bytes(body, target_rate, max_seconds, max_channels)
    raise RequestError(
        415,
        "unsupported_media_type",
        f"Content-Type {media!r} is not accepted: send audio/* or application/octet-stream bytes, multipart/form-data with a file, or application/json samples",
    )
