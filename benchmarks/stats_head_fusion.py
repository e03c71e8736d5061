"""How should the CNN and its statistics head be fused? Test accuracy of other rules, from a finished run.

    python benchmarks/stats_head_fusion.py runs/instruments10 --threads 2

Reads every ``fold_*`` of a run written by ``audiocnn train`` with the default ``--stats-head``
(the fold's model, its test files and their labels in ``predictions.csv``), scores the test
files with the CNN alone and with the fitted head alone (the head was fitted on the fold's
training part, validation files included, whatever share was chosen: the share is only a
weight at the end), and prints the test accuracy per fold and mean ± std over folds of:

- the share the run chose on its validation split (``head_share`` in the model);
- fixed shares of the arithmetic mean ``(1 - s) cnn + s head``;
- ``geo``: the normalised geometric mean (product) of the two probability vectors.

Nothing here is selected on the test folds by the toolkit: this compares candidate rules for a
future default, to be confirmed on other data.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import torch

from audiocnn.data import AudioCache
from audiocnn.models import load_model
from audiocnn.train import stats_head as sh

SHARES = (0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0)


def fold_scores(fold: Path) -> dict:
    result = json.loads((fold / "result.json").read_text())
    model, bundle = load_model(str(fold / "model"))
    model.eval()
    with (fold / "predictions.csv").open(newline="") as f:
        truth = {row["path"]: row["label"] for row in csv.DictReader(f)}
    classes = list(bundle.labels)
    files = result["test_files"]
    y = np.array([classes.index(truth[p]) for p in files])
    cache = AudioCache(model.sample_rate)
    waves = [cache.get(p) for p in files]
    win = bundle.windowing
    cnn = sh._cnn_probabilities(model, waves, win)
    X, owners = sh._features(model, waves, win, 32)
    head = sh._head_probabilities(model, X, owners, len(waves), win)
    acc = {f"share {s:g}": float(np.mean(((1 - s) * cnn + s * head).argmax(1) == y)) for s in SHARES}
    acc["chosen"] = float(np.mean(((1 - float(model.head_share)) * cnn + float(model.head_share) * head).argmax(1) == y))
    acc["geo"] = float(np.mean((np.log(np.maximum(cnn, 1e-12)) + np.log(np.maximum(head, 1e-12))).argmax(1) == y))
    return {"fold": fold.name, "chosen_share": float(model.head_share), **acc}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a run folder of `audiocnn train` (with fold_*/)")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [fold_scores(f) for f in sorted(args.run.glob("fold_*"))]
    if not rows:
        raise SystemExit(f"{args.run}: no fold_* folders")
    keys = ["chosen"] + [f"share {s:g}" for s in SHARES] + ["geo"]
    print("| fold | chosen share | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for r in rows:
        print(f"| {r['fold']} | {r['chosen_share']:g} | " + " | ".join(f"{r[k]:.3f}" for k in keys) + " |")
    print("| mean ± std | | " + " | ".join(f"{np.mean([r[k] for r in rows]):.3f} ± {np.std([r[k] for r in rows]):.3f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
