"""What a run folder records besides its results: the training curves (a Lightning logger) and
the environment the run ran in (``run.json``'s ``environment``).

- :func:`training_logger`: ``"csv"`` (Lightning's ``CSVLogger``: ``<fold>/logs/version_<n>/metrics.csv``)
  or ``"tensorboard"`` (``TensorBoardLogger``, needs the ``tensorboard`` package); a resumed fit
  writes a new version beside the interrupted one's.
- :func:`run_environment`: the versions of audiocnn, Python, torch, Lightning and NumPy, the
  git commit of the audiocnn source when it is a git checkout (and whether it has uncommitted
  changes), and the machine (platform, processor, CPU count).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
from pathlib import Path

from audiocnn.errors import UsageError

__all__ = ["LOGGERS", "check_logger", "run_environment", "training_logger"]

LOGGERS = ("csv", "tensorboard")


def check_logger(kind: str) -> None:
    """UsageError for an unknown logger, or for ``"tensorboard"`` without its package."""
    if kind not in LOGGERS:
        raise UsageError(f"--logger must be one of {', '.join(LOGGERS)}, got {kind!r}")
    if kind == "tensorboard" and not any(importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")):
        raise UsageError("--logger tensorboard needs the tensorboard package (pip install tensorboard); "
                         "--logger csv (the default) needs nothing more")


def training_logger(kind: str, out_dir: str | os.PathLike):
    """The Lightning logger of a fit whose folder is ``out_dir`` (curves in ``out_dir/logs``)."""
    check_logger(kind)
    if kind == "csv":
        from lightning.pytorch.loggers import CSVLogger

        return CSVLogger(save_dir=str(out_dir), name="logs")
    from lightning.pytorch.loggers import TensorBoardLogger

    return TensorBoardLogger(save_dir=str(out_dir), name="logs", default_hp_metric=False)


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _source_commit() -> dict:
    src = Path(__file__).resolve().parents[1]
    commit = _git(["rev-parse", "HEAD"], src)
    if not commit:
        return {"git_commit": None}
    status = _git(["status", "--porcelain", "--untracked-files=no", "--", "."], src)
    return {"git_commit": commit, "git_dirty": bool(status)}


def run_environment() -> dict:
    """``{"versions": {...}, "git_commit": sha or None[, "git_dirty"], "machine": {...}}``."""
    import lightning
    import numpy
    import torch

    from audiocnn import __version__

    return {
        "versions": {
            "audiocnn": __version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "lightning": lightning.__version__,
            "numpy": numpy.__version__,
        },
        **_source_commit(),
        "machine": {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count()},
    }
