"""The test files of a finished ``audiocnn train`` run's folds, for the benchmarks that refit part of its models.

In a run without a validation split (the default) the training files of a fold are exactly the
other folds' test files, so a fold's training part can be rebuilt from the ``predictions.csv``
files alone (``stats_head_speed.py``, ``stats_head_variants.py``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path


def fold_rows(run: Path) -> dict[Path, list[dict]]:
    """``{fold folder: its predictions.csv rows}`` for every ``fold_*`` of ``run``; exits when a
    fold was trained with a validation split (its training files are then not the other folds'
    test files)."""
    rows = {}
    for fold in sorted(Path(run).glob("fold_*")):
        if json.loads((fold / "result.json").read_text()).get("n_val"):
            raise SystemExit(f"{fold}: trained with a validation split; its training files are not the other folds' test files")
        with (fold / "predictions.csv").open(newline="") as f:
            rows[fold] = list(csv.DictReader(f))
    return rows


def training_rows(rows: dict[Path, list[dict]], fold: Path) -> list[dict]:
    """The rows of ``fold``'s training files: every other fold's test files."""
    return [r for other, other_rows in rows.items() if other != fold for r in other_rows]
