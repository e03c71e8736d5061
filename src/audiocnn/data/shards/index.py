"""The description of a packed dataset (``index.json``), checksums and verification.

A packed folder holds the shards (``shard-000000.tar`` ... or ``.h5``) and ``index.json``::

    {"format": "tar", "codec": "flac", "sample_rate": 16000, "classes": [...], "multilabel": true,
     "clip_seconds": null, "source": "csv:meta.csv", "fingerprint": "<sha256 of the plan>",
     "shards": [{"name": "shard-000000.tar", "samples": 1000, "bytes": ..., "sha256": "...",
                 "seconds": 10000.0, "class_counts": [...]}, ...],
     "bad": [{"path": "...", "reason": "..."}], "version": 1}

``class_counts[c]`` counts the samples of a shard that carry class ``c`` (multi-label samples
count once per label); the streaming balanced sampler reads them. A folder of PANNs HDF5 files
without ``index.json`` is described on the fly by :func:`load_index`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from audiocnn.atomic import write_json_atomic

__all__ = [
    "FORMATS",
    "INDEX_NAME",
    "PackedIndex",
    "ShardInfo",
    "is_packed",
    "load_index",
    "sha256_file",
    "verify_shards",
]

INDEX_NAME = "index.json"
FORMATS = ("tar", "hdf5")
_VERSION = 1


@dataclass
class ShardInfo:
    """One shard file: ``samples`` clips, ``seconds`` of audio, ``class_counts`` ``(classes,)``."""

    name: str
    samples: int
    bytes: int
    sha256: str
    seconds: float = 0.0
    class_counts: list[int] = field(default_factory=list)


@dataclass
class PackedIndex:
    """What ``index.json`` says about a packed folder (see the module docstring)."""

    root: Path
    format: str
    sample_rate: int
    classes: tuple[str, ...]
    multilabel: bool
    shards: list[ShardInfo]
    codec: str | None = None
    clip_seconds: float | None = None
    source: str = ""
    fingerprint: str = ""
    bad: list[dict] = field(default_factory=list)

    @property
    def num_samples(self) -> int:
        return sum(s.samples for s in self.shards)

    def class_counts(self) -> np.ndarray:
        """``(classes,)`` int64 label occurrences over all shards."""
        out = np.zeros(len(self.classes), dtype=np.int64)
        for s in self.shards:
            if s.class_counts:
                out += np.asarray(s.class_counts, dtype=np.int64)
        return out

    def path(self, shard: ShardInfo | str) -> Path:
        return self.root / (shard.name if isinstance(shard, ShardInfo) else shard)

    def to_dict(self) -> dict:
        return {
            "version": _VERSION,
            "format": self.format,
            "codec": self.codec,
            "sample_rate": int(self.sample_rate),
            "clip_seconds": self.clip_seconds,
            "classes": list(self.classes),
            "multilabel": bool(self.multilabel),
            "source": self.source,
            "fingerprint": self.fingerprint,
            "num_samples": self.num_samples,
            "shards": [asdict(s) for s in self.shards],
            "bad": list(self.bad),
        }

    def save(self) -> Path:
        return write_json_atomic(self.root / INDEX_NAME, self.to_dict())


def sha256_file(path: str | os.PathLike, block: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in blocks of ``block`` bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def is_packed(path: str | os.PathLike) -> bool:
    """True for a folder written by :func:`~audiocnn.data.shards.pack` (it has ``index.json``)
    or a folder of PANNs HDF5 files."""
    p = Path(path)
    return p.is_dir() and ((p / INDEX_NAME).is_file() or any(p.glob("*.h5")))


def load_index(path: str | os.PathLike) -> PackedIndex:
    """Read ``path/index.json``; a folder of PANNs HDF5 files without one is described from
    the files (classes ``class_0..`` unless the files carry a ``classes`` attribute).

    Raises:
        FileNotFoundError: no such folder, or neither ``index.json`` nor ``*.h5`` in it.
        ValueError: ``index.json`` is unreadable or of an unknown format.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder of packed shards")
    f = root / INDEX_NAME
    if not f.is_file():
        if any(root.glob("*.h5")):
            from audiocnn.data.shards.hdf5 import describe_hdf5_folder

            return describe_hdf5_folder(root)
        raise FileNotFoundError(f"{root}: no {INDEX_NAME} (not a folder written by `audiocnn pack`)")
    try:
        d = json.loads(f.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{f}: unreadable ({e})") from e
    if d.get("format") not in FORMATS:
        raise ValueError(f"{f}: unknown format {d.get('format')!r}; expected one of {', '.join(FORMATS)}")
    return PackedIndex(
        root=root,
        format=d["format"],
        sample_rate=int(d["sample_rate"]),
        classes=tuple(d["classes"]),
        multilabel=bool(d["multilabel"]),
        shards=[ShardInfo(**s) for s in d["shards"]],
        codec=d.get("codec"),
        clip_seconds=d.get("clip_seconds"),
        source=d.get("source", ""),
        fingerprint=d.get("fingerprint", ""),
        bad=list(d.get("bad", [])),
    )


def verify_shards(index: PackedIndex, checksums: bool = True) -> list[tuple[str, str]]:
    """Check every shard: present, of the recorded size, and (``checksums``) of the recorded
    SHA-256. Returns ``(shard name, problem)`` pairs; empty when all is well."""
    problems = []
    for s in index.shards:
        p = index.path(s)
        if not p.is_file():
            problems.append((s.name, "missing"))
            continue
        size = p.stat().st_size
        if s.bytes and size != s.bytes:
            problems.append((s.name, f"size {size} bytes, expected {s.bytes}"))
            continue
        if checksums and s.sha256:
            digest = sha256_file(p)
            if digest != s.sha256:
                problems.append((s.name, f"sha256 {digest[:12]}..., expected {s.sha256[:12]}..."))
    return problems
