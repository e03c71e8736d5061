"""A training run's folder: one owner at a time, and ``--resume`` only with the same data and recipe.

:class:`RunFolder` is what :func:`~audiocnn.evaluate.protocol.run_experiment` wraps a run in::

    with RunFolder(out_dir, resume=resume, recipe=recipe) as run:
        manifest = ...                       # load and check the data
        run.check_data(manifest)             # --resume: the same files, labels and folds?
        run.write_record({...})              # run.json, with the fingerprint
        ...                                  # train; Ctrl-C says what was kept

- **Lock.** ``OUT/.audiocnn.lock`` holds the owner's PID, host, process start time and
  command. A second run on the same folder refuses, naming the owner. A lock whose process is
  gone (same host, PID not running or reused by another process) is stale: it is taken over
  with a warning. A lock from another host cannot be checked and is never taken over.
- **Fingerprint.** ``run.json`` records the recipe (the training configuration less its
  runtime fields, and the fold protocol) and a digest of the data manifest (files relative to
  the data folder, labels, folds/splits/groups, classes). ``--resume`` refuses, with the list of
  differences, when either changed.
- **A run that never started training** (it stopped while loading or checking the data) holds
  no result and no checkpoint: a new run may start over it without ``--resume``.
- **Ctrl-C** becomes ``KeyboardInterrupt("<what was kept>; add --resume ...")``: the folds
  finished and the epochs checkpointed, and that ``--resume`` continues.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import logging
import os
import socket
import sys
from pathlib import Path

from audiocnn.atomic import OutputError, write_exclusive, write_json_atomic
from audiocnn.errors import AudiocnnError
from audiocnn.train.config import TrainConfig

__all__ = [
    "LOCK_NAME",
    "RunFolder",
    "RunInUseError",
    "RunMismatchError",
    "data_fingerprint",
    "describe_progress",
    "fingerprint_differences",
    "run_lock",
    "run_started",
]

log = logging.getLogger(__name__)

LOCK_NAME = ".audiocnn.lock"


class RunInUseError(AudiocnnError):
    """Another live process owns the run folder (or one on another host might)."""


class RunMismatchError(AudiocnnError, ValueError):
    """``--resume`` with other data or another recipe than the run was started with; the message
    lists every difference."""


# ------------------------------------------------------------------------------------- the lock


def _me() -> dict:
    import psutil

    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "process_started": psutil.Process().create_time(),
        "locked_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }


def _read(path: Path) -> dict | None:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return d if isinstance(d, dict) and "pid" in d else None
    except (OSError, ValueError):
        return None


def _alive(owner: dict) -> bool:
    """Is the owner (on this host) still running? A PID now used by a process started later is
    not the owner."""
    import psutil

    try:
        p = psutil.Process(int(owner["pid"]))
        started = owner.get("process_started")
        return started is None or abs(p.create_time() - float(started)) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError, TypeError):
        return False
    except psutil.Error:  # pragma: no cover - unexpected: be safe, assume it lives
        return True


def _describe(owner: dict) -> str:
    return f"process {owner.get('pid')} on {owner.get('host')} (locked {owner.get('locked_at', '?')}: {owner.get('command', '?')})"


def _acquire(out_dir: Path) -> Path:
    lock = out_dir / LOCK_NAME
    mine = _me()
    text = json.dumps(mine, indent=1) + "\n"
    for _ in range(5):
        if write_exclusive(lock, text):
            return lock
        owner = _read(lock)
        if owner is None:  # being written by a racing process (it appears whole), or damaged
            import time

            time.sleep(0.2)
            owner = _read(lock)
            if owner is None:
                _take_over(lock, None)
                continue
        if owner.get("host") != mine["host"]:
            raise RunInUseError(f"{out_dir} is locked by {_describe(owner)}; a lock from another host cannot be checked here: "
                                f"if that run is no longer running, delete {lock}")
        if _alive(owner):
            raise RunInUseError(f"{out_dir} is in use by {_describe(owner)}; wait for it to finish or choose another --out")
        log.warning("%s: taking over the lock of %s, which is no longer running", out_dir, _describe(owner))
        _take_over(lock, owner)
    raise RunInUseError(f"{out_dir}: could not take the lock {lock} (other processes keep taking it)")


def _take_over(lock: Path, seen: dict | None) -> None:
    """Move a stale lock aside; of several processes doing so at once, one wins the rename."""
    aside = lock.with_name(f"{lock.name}.stale{os.getpid()}")
    try:
        os.replace(lock, aside)
    except FileNotFoundError:
        return
    except OSError as e:
        raise OutputError(lock, f"cannot remove the stale lock ({e.strerror or e})") from e
    if seen is not None and _read(aside) != seen:  # a live lock was taken by mistake: put it back
        try:
            os.link(aside, lock)
        except OSError:
            pass
    try:
        aside.unlink()
    except OSError:
        pass


def _release(lock: Path) -> None:
    owner = _read(lock)
    if owner is not None and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
        try:
            lock.unlink()
        except OSError as e:  # the run's outputs are written; only the lock stays
            log.warning("%s: could not remove the lock (%s); delete it by hand", lock, e)


@contextlib.contextmanager
def run_lock(out_dir: str | os.PathLike, enabled: bool = True):
    """Only the lock of :class:`RunFolder` (for runs that keep their own ``run.json``, such as
    streaming training): a second run on ``out_dir`` refuses, a dead owner's lock is taken over."""
    out_dir = Path(out_dir)
    if not enabled:
        yield out_dir
        return
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(out_dir, "it is a file; --out must be a folder")
    lock = _acquire(out_dir)
    try:
        yield out_dir
    finally:
        _release(lock)


# ------------------------------------------------------------------------------- fingerprints


def _digest(lines) -> str:
    h = hashlib.sha1()
    for line in lines:
        h.update(line.encode("utf-8", "surrogateescape") + b"\n")
    return h.hexdigest()


def data_fingerprint(manifest) -> dict:
    """What identifies a data set for ``--resume``: item count, classes, and digests of the file
    list (relative to the data folder), of the labels and of the folds/splits/groups."""
    root = Path(manifest.root) if getattr(manifest, "root", None) else None

    def rel(p) -> str:
        p = Path(p)
        if root is not None:
            try:
                return p.relative_to(root).as_posix()
            except ValueError:
                pass
        return p.as_posix()

    rows = sorted((rel(it.path), it) for it in manifest.items)
    return {
        "items": len(rows),
        "classes": [str(c) for c in manifest.classes],
        "multilabel": bool(manifest.multilabel),
        "files_sha1": _digest(r for r, _ in rows),
        "labels_sha1": _digest(f"{r}\t{';'.join(it.labels)}" for r, it in rows),
        "folds_sha1": _digest(f"{r}\t{it.fold}\t{it.split}\t{it.group}" for r, it in rows),
    }


def fingerprint_differences(old: dict, new: dict) -> list[str]:
    """Readable differences between two fingerprints (``{"recipe": ..., "data": ...}``)."""
    out = []
    ro, rn = old.get("recipe", {}), new.get("recipe", {})
    for k in sorted(set(ro) | set(rn)):
        if k == "config":
            co, cn = ro.get(k, {}), rn.get(k, {})
            # a field the old record lacks (added to TrainConfig since) differs only when it is not at its default
            defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}
            out += [f"recipe {f}: {co.get(f)!r} -> {cn.get(f)!r}" for f in sorted(set(co) | set(cn))
                    if co.get(f) != cn.get(f) and not (f not in co and f in defaults and cn.get(f) == defaults[f])]
        elif ro.get(k) != rn.get(k):
            out.append(f"recipe {k}: {ro.get(k)!r} -> {rn.get(k)!r}")
    do, dn = old.get("data"), new.get("data")
    if do is None or dn is None:
        return out
    if do.get("items") != dn.get("items"):
        out.append(f"data: {do.get('items')} -> {dn.get('items')} files")
    if do.get("classes") != dn.get("classes"):
        gone = [c for c in do.get("classes", []) if c not in dn.get("classes", [])]
        new_c = [c for c in dn.get("classes", []) if c not in do.get("classes", [])]
        out.append(f"data: classes changed (removed: {', '.join(gone) or 'none'}; added: {', '.join(new_c) or 'none'})")
    if do.get("multilabel") != dn.get("multilabel"):
        out.append(f"data: multi-label {do.get('multilabel')} -> {dn.get('multilabel')}")
    for key, what in (("files_sha1", "the file list"), ("labels_sha1", "the labels of the files"), ("folds_sha1", "the folds/splits/groups")):
        if do.get(key) != dn.get(key):
            out.append(f"data: {what} changed")
    return out


# ------------------------------------------------------------------------------------ progress


def _fold_dirs(out_dir: Path) -> list[Path]:
    return sorted(p for p in out_dir.glob("fold_*") if p.is_dir())


def run_started(out_dir: str | os.PathLike) -> bool:
    """Did a run in ``out_dir`` get as far as training (a fold result or a checkpoint)?"""
    out_dir = Path(out_dir)
    return any(out_dir.glob("fold_*/result.json")) or any(out_dir.glob("fold_*/**/last.ckpt"))


def describe_progress(out_dir: str | os.PathLike) -> str:
    """``"kept in runs/x: folds fold_1, fold_2 finished (result.json); fold_3 checkpointed"``."""
    out_dir = Path(out_dir)
    done = [d.name for d in _fold_dirs(out_dir) if (d / "result.json").exists()]
    partial = [d.name for d in _fold_dirs(out_dir) if not (d / "result.json").exists() and any(d.glob("**/last.ckpt"))]
    parts = []
    if done:
        parts.append(f"fold(s) {', '.join(done)} finished (result.json)")
    if partial:
        parts.append(f"{', '.join(partial)} checkpointed at the end of its last finished epoch (lightning/last.ckpt)")
    if not parts:
        return f"nothing finished in {out_dir} yet"
    return f"kept in {out_dir}: " + "; ".join(parts)


# ----------------------------------------------------------------------------------- the run


class RunFolder:
    """Owner of a run folder for the length of a ``with`` block (see the module docstring).

    Args:
        out_dir: the run folder (created).
        resume: ``--resume``: continue the run there (same data and recipe), else refuse a
            folder that holds a run that started training.
        recipe: the recipe part of the fingerprint (``{"config": {...}, "folds": ..., ...}``).
        enabled: False on the DDP ranks other than 0 (no lock, no checks, no writes).
    """

    RECORD = "run.json"

    def __init__(self, out_dir: str | os.PathLike, *, resume: bool, recipe: dict, enabled: bool = True):
        self.out_dir = Path(out_dir)
        self.resume = resume
        self.recipe = json.loads(json.dumps(recipe, default=str))  # as it reads back from run.json
        self.enabled = enabled
        self.previous: dict | None = None
        self.data: dict | None = None
        self._lock: Path | None = None

    def __enter__(self) -> RunFolder:
        if not self.enabled:
            return self
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise OutputError(self.out_dir, "it is a file; --out must be a folder")
        self._lock = _acquire(self.out_dir)
        try:
            self._check_previous()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _check_previous(self) -> None:
        record = self.out_dir / self.RECORD
        if not record.exists():
            return
        try:
            prev = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            if self.resume or run_started(self.out_dir):
                raise RunMismatchError(f"{record}: unreadable ({e}); cannot check that --resume continues the same run") from e
            return
        if not self.resume:
            if run_started(self.out_dir):
                raise RunMismatchError(f"{self.out_dir} already holds a run ({describe_progress(self.out_dir)}); "
                                       "add --resume to continue it or choose another --out")
            log.info("%s: the run there stopped before training; starting it again", self.out_dir)
            return
        self.previous = prev
        old = prev.get("fingerprint") or {"recipe": {"config": prev.get("config", {})}}
        if "fingerprint" not in prev:  # written before fingerprints: compare the configuration only
            new = {"recipe": {"config": self.recipe.get("config", {})}}
        else:
            new = {"recipe": self.recipe}
        diffs = fingerprint_differences({"recipe": old.get("recipe", {})}, new)
        if diffs:
            raise RunMismatchError(f"{self.out_dir}: --resume with another recipe than the run was started with:\n  "
                                   + "\n  ".join(diffs) + "\nuse the same options, or start a new run in another --out")

    def check_data(self, manifest) -> dict:
        """Fingerprint the data; with ``--resume`` refuse data that differs from the run's."""
        self.data = data_fingerprint(manifest)
        if not self.enabled or not self.previous:
            return self.data
        old = (self.previous.get("fingerprint") or {}).get("data")
        if old is not None:
            diffs = fingerprint_differences({"data": old}, {"data": self.data})
            if diffs:
                raise RunMismatchError(f"{self.out_dir}: --resume with other data than the run was started with:\n  "
                                       + "\n  ".join(diffs) + "\nrestore the data, or start a new run in another --out")
        return self.data

    def write_record(self, record: dict) -> None:
        """``run.json``: ``record``, the environment (:func:`~audiocnn.train.records.run_environment`:
        versions, git commit, machine) and the fingerprint (recipe and data)."""
        if self.enabled:
            from audiocnn.train.records import run_environment

            write_json_atomic(self.out_dir / self.RECORD,
                              {**record, "environment": run_environment(), "fingerprint": {"recipe": self.recipe, "data": self.data}})

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._lock is not None:
            _release(self._lock)
            self._lock = None
        if exc_type is KeyboardInterrupt and self.enabled:
            raise KeyboardInterrupt(f"{describe_progress(self.out_dir)}; the same command with --resume continues the run") from None
