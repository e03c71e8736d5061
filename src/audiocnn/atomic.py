"""Atomic file output: the one way audiocnn writes a file.

Every output (checkpoints, ``metrics.json``, reports, plots, caches, tag/embedding results) is
written to a temporary file beside its target and moved into place with :func:`os.replace`, which
is atomic on POSIX and Windows: a process killed mid-write leaves the previous version intact and
never a half-written file. A failure (read-only folder, full disk, a folder where a file should
be) raises :class:`OutputError`, whose message names the file and the reason; the temporary file
is removed and the earlier output is untouched.

    with atomic_path("runs/x/metrics.json") as tmp:   # write anything to tmp
        tmp.write_text("...")
    write_text_atomic("report.md", text)
    write_json_atomic("metrics.json", {"accuracy": 0.9})
    write_exclusive("run/.audiocnn.lock", text)   # only if no such file exists (a lock)
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

__all__ = [
    "OutputError",
    "atomic_path",
    "json_default",
    "write_bytes_atomic",
    "write_exclusive",
    "write_json_atomic",
    "write_text_atomic",
    "write_with",
]


class OutputError(OSError):
    """An output file could not be written. ``path`` is the file; the message says why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: cannot write ({reason}); earlier outputs are left as they were")


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError):
        if e.errno == errno.ENOSPC:
            return "no space left on the device"
        if e.errno in (errno.EACCES, errno.EPERM):
            return "permission denied"
        if e.errno == errno.EROFS:
            return "read-only file system"
        if e.errno == errno.EISDIR:
            return "a folder of that name exists"
        if e.errno == errno.ENOTDIR:
            return "a parent of it is a file, not a folder"
        return e.strerror or str(e) or type(e).__name__
    return f"{type(e).__name__}: {e}"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, make_parents: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without an exception, move it
    onto ``path`` atomically. The temporary name keeps the suffix (``.x.tmp123.png``) so that
    writers that infer the format from it (matplotlib, numpy) still work.

    Raises:
        OutputError: the folder cannot be created or written, the disk is full, ...
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(path, "a folder of that name exists")
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(path, _reason(e)) from e
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        raise OutputError(path, _reason(e)) from e
    finally:
        with contextlib.suppress(OSError):
            if tmp.exists():
                tmp.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def json_default(o):
    """``json.dumps(default=...)`` for numpy scalars and arrays and paths."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json_atomic(path: str | os.PathLike, obj, indent: int | None = 1) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=indent, default=json_default) + "\n")


def write_with(path: str | os.PathLike, writer: Callable[[Path], object]) -> Path:
    """Call ``writer(tmp_path)`` (e.g. ``torch.save(obj, tmp)`` or ``fig.savefig``) and move the
    result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)



def write_exclusive(path: str | os.PathLike, text: str) -> bool:
    """Create ``path`` with ``text`` only if it does not exist: True if this call created it,
    False if the file was already there. The content appears whole or not at all (a temporary
    file hard-linked into place; where hard links are not supported, an exclusive create).
    Used for lock files: of several processes racing, exactly one gets True.

    Raises:
        OutputError: the folder cannot be written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(path, _reason(e)) from e
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
        try:  # no hard links on this file system
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return True
    except OSError as e:
        raise OutputError(path, _reason(e)) from e
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
