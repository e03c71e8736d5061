"""Decode and resample each file once: an in-memory cache with an optional on-disk ``.npy`` store.

Training for several epochs and folds reads the same files again and again; decoding (and above
all resampling) dominates the data cost on a CPU. :class:`AudioCache` keeps every waveform at the
model's rate in memory and, with ``cache_dir``, in ``.npy`` files keyed by the file's absolute
path, modification time, size and the target sample rate, so another run, fold or process reuses
them and a changed file is decoded again.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from audiocnn.atomic import write_with
from audiocnn.audio import AudioLoadError, load_audio
from audiocnn.data.items import BadItem

__all__ = ["AudioCache"]


def _stamp(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise AudioLoadError(path, "file not found") from None
    except OSError as e:
        raise AudioLoadError(path, f"cannot stat ({e.strerror or e})") from e
    return st.st_mtime_ns, st.st_size


def _decode(path: str, sample_rate: int) -> np.ndarray:
    x, _ = load_audio(path, sample_rate=sample_rate, mono=True)
    return np.ascontiguousarray(x, dtype=np.float32)


def _decode_for_pool(args: tuple[str, int]) -> tuple[str, np.ndarray | None, str | None]:
    path, sr = args
    try:
        return path, _decode(path, sr), None
    except AudioLoadError as e:
        return path, None, e.reason
    except Exception as e:  # noqa: BLE001 - reported, never swallowed
        return path, None, f"decoding failed ({type(e).__name__}: {e})"


class AudioCache:
    """Mono float32 waveforms at ``sample_rate``, decoded and resampled once per file.

    Args:
        sample_rate: target rate in Hz (the model's).
        cache_dir: optional folder for ``.npy`` copies shared across runs and processes.
        max_memory_mb: optional bound on the in-memory cache (least recently used entries are
            dropped first; they are decoded again or read from ``cache_dir``). None: unbounded.

    Attributes:
        decodes: number of files decoded by this instance (a hit in memory or on disk does not
            count).
        disk_hits: number of waveforms read from ``cache_dir``.
    """

    def __init__(self, sample_rate: int, cache_dir: str | os.PathLike | None = None,
                 *, max_memory_mb: float | None = None):
        if int(sample_rate) <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.sample_rate = int(sample_rate)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.max_memory_bytes = None if max_memory_mb is None else int(max_memory_mb * 2**20)
        self._mem: OrderedDict[str, tuple[tuple[int, int], np.ndarray]] = OrderedDict()
        self._bytes = 0
        self.decodes = 0
        self.disk_hits = 0

    # -- keys ------------------------------------------------------------------------------
    @staticmethod
    def _norm(path: str | os.PathLike) -> str:
        return os.path.abspath(os.fspath(path))

    def _disk_path(self, path: str, stamp: tuple[int, int]) -> Path:
        # <hash of path+rate>_<hash of mtime+size>.npy: a changed file gets a new name and the
        # old copy can be found (same prefix) and removed.
        head = hashlib.sha1(f"{path}|{self.sample_rate}".encode()).hexdigest()[:20]
        tail = hashlib.sha1(f"{stamp[0]}|{stamp[1]}".encode()).hexdigest()[:12]
        assert self.cache_dir is not None  # only called when there is a cache folder
        return self.cache_dir / f"{head}_{tail}.npy"

    # -- memory ----------------------------------------------------------------------------
    def _remember(self, path: str, stamp: tuple[int, int], x: np.ndarray) -> None:
        x.setflags(write=False)  # shared between callers: nobody may modify it in place
        old = self._mem.pop(path, None)
        if old is not None:
            self._bytes -= old[1].nbytes
        self._mem[path] = (stamp, x)
        self._bytes += x.nbytes
        if self.max_memory_bytes is not None:
            while self._bytes > self.max_memory_bytes and len(self._mem) > 1:
                _, (_, dropped) = self._mem.popitem(last=False)
                self._bytes -= dropped.nbytes

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, (str, os.PathLike)):
            return False
        p = self._norm(path)
        entry = self._mem.get(p)
        if entry is None:
            return False
        try:
            return entry[0] == _stamp(p)
        except AudioLoadError:
            return False

    def __len__(self) -> int:
        return len(self._mem)

    @property
    def nbytes(self) -> int:
        """Bytes held in memory."""
        return self._bytes

    def clear(self) -> None:
        """Forget the in-memory copies (files in ``cache_dir`` stay)."""
        self._mem.clear()
        self._bytes = 0

    # -- disk ------------------------------------------------------------------------------
    def _load_disk(self, path: str, stamp: tuple[int, int]) -> np.ndarray | None:
        if self.cache_dir is None:
            return None
        f = self._disk_path(path, stamp)
        if not f.exists():
            return None
        try:
            x = np.load(f, allow_pickle=False)
        except (OSError, ValueError):  # truncated or foreign file: decode again
            return None
        if x.dtype != np.float32 or x.ndim != 1:
            return None
        return x

    def _save_disk(self, path: str, stamp: tuple[int, int], x: np.ndarray) -> None:
        if self.cache_dir is None:
            return
        f = self._disk_path(path, stamp)
        prefix = f.name.split("_")[0]
        for old in self.cache_dir.glob(f"{prefix}_*.npy"):  # stale copies of an older version
            if old != f:
                try:
                    old.unlink()
                except OSError:
                    pass
        # atomic: a killed process leaves no half file
        write_with(f, lambda tmp: np.save(tmp, x, allow_pickle=False))

    # -- public ----------------------------------------------------------------------------
    def get(self, path: str | os.PathLike) -> np.ndarray:
        """The waveform of ``path``: float32 ``(samples,)`` at ``sample_rate``, read-only.

        Raises:
            AudioLoadError: the file is missing, not audio, empty or has NaN/inf samples.
        """
        p = self._norm(path)
        stamp = _stamp(p)
        entry = self._mem.get(p)
        if entry is not None and entry[0] == stamp:
            self._mem.move_to_end(p)
            return entry[1]
        x = self._load_disk(p, stamp)
        if x is not None:
            self.disk_hits += 1
        else:
            x = _decode(p, self.sample_rate)
            self.decodes += 1
            self._save_disk(p, stamp, x)
        self._remember(p, stamp, x)
        return x

    def put(self, path: str | os.PathLike, x: np.ndarray, stamp: tuple[int, int] | None = None) -> None:
        """Store an already decoded waveform (used by :meth:`preload`'s workers)."""
        p = self._norm(path)
        stamp = stamp or _stamp(p)
        x = np.ascontiguousarray(x, dtype=np.float32)
        self._save_disk(p, stamp, x)
        self._remember(p, stamp, x)

    def preload(self, paths: Iterable[str | os.PathLike], num_workers: int = 0,
                progress: bool = True, executor: str = "thread") -> list[BadItem]:
        """Decode every file not cached yet; return the files that failed, each with the reason.

        Args:
            paths: files to load (duplicates are loaded once).
            num_workers: 0 decodes in this thread; n > 0 uses n worker threads (decoding and
                soxr release the GIL) or, with ``executor="process"``, n processes.
            progress: show a tqdm progress bar.
        """
        from tqdm.auto import tqdm

        bad: list[BadItem] = []
        todo: list[str] = []
        stamps: dict[str, tuple[int, int]] = {}
        seen: set[str] = set()
        for path in paths:
            p = self._norm(path)
            if p in seen:
                continue
            seen.add(p)
            try:
                stamp = _stamp(p)
            except AudioLoadError as e:
                bad.append(BadItem(p, e.reason))
                continue
            entry = self._mem.get(p)
            if entry is not None and entry[0] == stamp:
                continue
            x = self._load_disk(p, stamp)
            if x is not None:
                self.disk_hits += 1
                self._remember(p, stamp, x)
                continue
            todo.append(p)
            stamps[p] = stamp
        if not todo:
            return bad
        bar = tqdm(total=len(todo), desc=f"decoding at {self.sample_rate} Hz", unit="file",
                   disable=None if progress else True, leave=False)  # None: terminals only
        try:
            results: Iterator[tuple[str, np.ndarray | None, str | None]]
            if num_workers <= 0:
                results = map(_decode_for_pool, ((p, self.sample_rate) for p in todo))
                pool = None
            else:
                pool_cls = ProcessPoolExecutor if executor == "process" else ThreadPoolExecutor
                pool = pool_cls(max_workers=num_workers)
                chunk = 8 if executor == "process" else 1
                results = pool.map(_decode_for_pool, ((p, self.sample_rate) for p in todo), chunksize=chunk)
            for p, x, reason in results:
                bar.update(1)
                if x is None:
                    bad.append(BadItem(p, reason or "decoding failed"))
                    continue
                self.decodes += 1
                self.put(p, x, stamps[p])  # stamp taken before decoding: a later change re-decodes
            if pool is not None:
                pool.shutdown()
        finally:
            bar.close()
        return bad
