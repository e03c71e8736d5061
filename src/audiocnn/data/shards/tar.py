"""WebDataset tar shards: writing with :mod:`tarfile`, reading without the ``webdataset`` package.

A sample is two tar members with the same key: ``<key>.flac`` (or ``<key>.wav``, 16-bit PCM)
holding the mono waveform at the packed sample rate, and ``<key>.json`` holding its metadata::

    {"key": "000000042", "path": "/data/a.wav", "labels": ["Speech"], "target": [0],
     "num_samples": 160000, "fold": null, "split": null, "group": null, "extra": {}}

Keys contain no dot, so ``webdataset.WebDataset(url)`` groups the members into
``{"__key__", "flac", "json"}`` samples, as it does for any WebDataset corpus.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = ["CODECS", "TarShardWriter", "decode_audio", "encode_audio", "iter_tar_samples"]

#: codec name -> (member extension, soundfile format)
CODECS = {"flac": ("flac", "FLAC"), "int16": ("wav", "WAV")}


def encode_audio(x: np.ndarray, sample_rate: int, codec: str) -> bytes:
    """Float32 ``(samples,)`` in [-1, 1] -> FLAC or 16-bit WAV bytes (both 16-bit PCM)."""
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {', '.join(CODECS)}, got {codec!r}")
    buf = io.BytesIO()
    sf.write(buf, np.clip(x, -1.0, 1.0), int(sample_rate), format=CODECS[codec][1], subtype="PCM_16")
    return buf.getvalue()


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """FLAC/WAV bytes -> (float32 ``(samples,)``, sample rate in Hz)."""
    x, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    if x.ndim > 1:
        x = x.mean(axis=1, dtype=np.float32)
    return x, sr


class _HashingWriter:
    """A write-only file object that feeds everything written through SHA-256."""

    def __init__(self, f):
        self.f, self.sha, self.bytes = f, hashlib.sha256(), 0

    def write(self, b) -> int:
        self.sha.update(b)
        self.bytes += len(b)
        return self.f.write(b)


class TarShardWriter:
    """Write samples to an (already temporary) tar path, hashing while writing.

    Use as a context manager; after it closes, ``sha256`` and ``bytes`` describe the file.
    """

    def __init__(self, path: str | os.PathLike, codec: str):
        if codec not in CODECS:
            raise ValueError(f"codec must be one of {', '.join(CODECS)}, got {codec!r}")
        self.path, self.codec, self.ext = Path(path), codec, CODECS[codec][0]
        self.sha256, self.bytes = "", 0

    def __enter__(self):
        self._f = open(self.path, "wb")
        self._hw = _HashingWriter(self._f)
        # stream mode ("w|"): purely sequential writes, so the hash sees every byte once
        self._tar = tarfile.open(fileobj=self._hw, mode="w|", format=tarfile.USTAR_FORMAT)
        return self

    def _add(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 0, 0o644  # fixed mtime: same input, same bytes
        self._tar.addfile(info, io.BytesIO(data))

    def write(self, key: str, audio: bytes, meta: dict) -> None:
        if "." in key or "/" in key:
            raise ValueError(f"sample key {key!r} must not contain '.' or '/' (WebDataset groups members by key)")
        self._add(f"{key}.{self.ext}", audio)
        self._add(f"{key}.json", json.dumps(meta, separators=(",", ":")).encode())

    def __exit__(self, *exc):
        self._tar.close()
        self._f.close()
        self.sha256, self.bytes = self._hw.sha.hexdigest(), self._hw.bytes
        return False


def iter_tar_samples(path: str | os.PathLike) -> Iterator[tuple[str, bytes, dict]]:
    """``(key, audio bytes, metadata)`` of every sample of a tar shard, in file order.

    The shard is read sequentially (stream mode): memory holds one sample at a time.

    Raises:
        ValueError: the file is not a tar shard, or a sample lacks its audio or metadata.
    """
    path = Path(path)
    key, audio, meta = None, None, None
    try:
        with tarfile.open(path, mode="r|") as tar:
            for m in tar:
                if not m.isfile():
                    continue
                k, _, ext = m.name.rpartition("/")[2].partition(".")
                if key is not None and k != key:
                    yield _complete(path, key, audio, meta)
                    audio, meta = None, None
                key = k
                member = tar.extractfile(m)
                assert member is not None  # a regular file (m.isfile() above)
                data = member.read()
                if ext == "json":
                    meta = json.loads(data)
                elif ext in ("flac", "wav"):
                    audio = data
    except tarfile.TarError as e:
        raise ValueError(f"{path}: not a readable tar shard ({e})") from e
    if key is not None:
        yield _complete(path, key, audio, meta)


def _complete(path: Path, key: str, audio: bytes | None, meta: dict | None) -> tuple[str, bytes, dict]:
    if audio is None or meta is None:
        missing = "audio" if audio is None else "metadata (.json)"
        raise ValueError(f"{path}: sample {key!r} has no {missing}")
    return key, audio, meta
