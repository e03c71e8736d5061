"""How should the CNN and its statistics head be fused, and which classifier should the head be?

    python benchmarks/stats_head_fusion.py runs/instruments10 [runs/instruments10_seed1 ...] --threads 2 [--heads lr,rff,svc]

Reads every ``fold_*`` of runs written by ``audiocnn train`` with the default ``--stats-head``
(the fold's model, its test files and their labels in ``predictions.csv``), scores the test
files with the CNN alone and with the fitted head alone (the head was fitted on the fold's
training part, validation files included, whatever share was chosen: the share is only a
weight at the end), and prints the test accuracy per fold and mean ± std over folds of:

- the share the run chose on its validation split (``head_share`` in the model);
- fixed shares of the arithmetic mean ``(1 - s) cnn + s head``;
- ``geo``: the normalised geometric mean (product) of the two probability vectors.

``--heads`` also fits other classifiers on the same window statistics of the fold's training
part (every file of the run's data that is not a test file), each with its hyper-parameters
chosen by the log-loss of a 3-fold inner cross-validation grouped by file, and scores them
alone, at share 0.5, by ``geo``, and with the weight chosen on the fold's validation split
(rebuilt as the run split it; the head then fitted on the training files alone) for the
arithmetic (``val-arith``, the toolkit's rule) and the geometric mean (``val-geo``):

- ``lr``: the multinomial logistic regression of the toolkit's head, fitted again;
- ``rff``: the same regression on 1,024 random Fourier features of the standardised statistics
  (an RBF kernel's approximation; gamma 0.25/dim or 1/dim);
- ``svc``: an RBF support-vector machine with Platt-scaled probabilities.

With several runs (e.g. the same command with ``--seed 0, 1, 2``) the last line gives the mean
over every fold of every run. Nothing here is selected on the test folds by the toolkit: this
compares candidate rules for a future default.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import torch

from audiocnn.data import AudioCache, load_manifest, split_train_val
from audiocnn.evaluate.protocol import _without_groups, split_digest
from audiocnn.models import load_model
from audiocnn.train import stats_head as sh

SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
HEADS = ("lr", "rff", "svc")


def _inner_log_loss(make, Z, y, splits) -> float:
    total = 0.0
    for tr, va in splits:
        clf = make().fit(Z[tr], y[tr])
        p = clf.predict_proba(Z[va])
        col = {k: j for j, k in enumerate(clf.classes_)}
        total -= sum(np.log(max(p[i, col[t]], 1e-12)) if t in col else np.log(1e-12) for i, t in enumerate(y[va]))
    return total / len(y)


def fit_head(kind: str, Z: np.ndarray, y: np.ndarray, groups: np.ndarray):
    """A fitted classifier with ``predict_proba`` of the ``kind`` of :data:`HEADS`."""
    from sklearn.kernel_approximation import RBFSampler
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC

    dim = Z.shape[1]
    if kind == "lr":
        makers = [lambda c=c: LogisticRegression(C=c, max_iter=2000) for c in sh.HEAD_C_GRID]
    elif kind == "rff":
        makers = [lambda g=g, c=c: make_pipeline(RBFSampler(gamma=g / dim, n_components=1024, random_state=0),
                                                 LogisticRegression(C=c, max_iter=3000))
                  for g in (0.25, 1.0) for c in (0.1, 1.0, 10.0, 100.0)]
    elif kind == "svc":
        makers = [lambda g=g, c=c: SVC(C=c, gamma=g / dim, probability=True, random_state=0)
                  for g in (0.25, 1.0, 4.0) for c in (1.0, 10.0, 100.0)]
    else:
        raise ValueError(kind)
    splits = list(StratifiedGroupKFold(3, shuffle=True, random_state=0).split(Z, y, groups))
    best = min(makers, key=lambda m: _inner_log_loss(m, Z, y, splits))
    return best().fit(Z, y)


def _geo(cnn: np.ndarray, head: np.ndarray, w: float) -> np.ndarray:
    """Normalised weighted geometric mean ``cnn^(1-w) head^w``."""
    z = (1 - w) * np.log(np.maximum(cnn, 1e-12)) + w * np.log(np.maximum(head, 1e-12))
    p = np.exp(z - z.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def _arith(cnn: np.ndarray, head: np.ndarray, w: float) -> np.ndarray:
    return (1 - w) * cnn + w * head


def _choose(rule, cnn, head, y) -> float:
    """The weight of :data:`stats_head.SHARE_GRID` with the best validation accuracy of ``rule``, ties by log-loss."""
    def key(w):
        p = rule(cnn, head, w)
        return (np.mean(p.argmax(1) == y), np.mean(np.log(np.maximum(p[np.arange(len(y)), y], 1e-12))))
    return max(sh.SHARE_GRID, key=key)


def _head_probs(clf, X, owners, n, n_classes, win, mean, scale) -> np.ndarray:
    p = np.zeros((len(X), n_classes))
    p[:, clf.classes_] = clf.predict_proba((X - mean) / scale)
    return np.array([sh._pool(p[owners == i], win) for i in range(n)])


def _fit_kind(kind, X, owners, labels):
    mean, scale = X.mean(0), np.maximum(X.std(0), 1e-6)
    return fit_head(kind, (X - mean) / scale, labels[owners], owners), mean, scale


def fold_scores(fold: Path, index: int, ctx: dict | None, heads: list[str]) -> dict:
    """Test accuracies of the fusion rules on one fold; ``ctx`` (the run's manifest and config)
    is needed for ``heads`` only."""
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
    acc = {f"share {s:g}": float(np.mean(_arith(cnn, head, s).argmax(1) == y)) for s in SHARES}
    acc["chosen"] = float(np.mean(_arith(cnn, head, float(model.head_share)).argmax(1) == y))
    acc["geo"] = float(np.mean(_geo(cnn, head, 0.5).argmax(1) == y))
    if heads:
        # the fold's training and validation parts, split as the run split them
        manifest, config = ctx["manifest"], ctx["config"]
        test = set(files)
        paths = [str(it.path) for it in manifest.items]
        train_idx = np.array([i for i, p in enumerate(paths) if p not in test])
        test_idx = np.array([i for i, p in enumerate(paths) if p in test])
        m = manifest if config.get("val_groups", True) else _without_groups(manifest)
        tr, va = split_train_val(m, train_idx, config.get("val_fraction", 0.1), seed=int(config.get("seed", 0)) + index)
        if split_digest(manifest, tr, va, test_idx) != result.get("split_sha1"):
            raise SystemExit(f"{fold}: the validation split cannot be rebuilt (split digest differs)")
        labels = np.array([classes.index(manifest.items[i].labels[0]) for i in np.concatenate([tr, va])])
        all_waves = [cache.get(paths[i]) for i in np.concatenate([tr, va])]
        Xa, oa = sh._features(model, all_waves, win, 32)
        fit_tr = oa < len(tr)
        val_waves = all_waves[len(tr):]
        cnn_val = sh._cnn_probabilities(model, val_waves, win)
        for kind in heads:
            clf, mu, sd = _fit_kind(kind, Xa[fit_tr], oa[fit_tr], labels)
            head_val = _head_probs(clf, Xa[~fit_tr], oa[~fit_tr] - len(tr), len(va), len(classes), win, mu, sd)
            w_arith = _choose(_arith, cnn_val, head_val, labels[len(tr):])
            w_geo = _choose(_geo, cnn_val, head_val, labels[len(tr):])
            clf, mu, sd = _fit_kind(kind, Xa, oa, labels)
            hp = _head_probs(clf, X, owners, len(waves), len(classes), win, mu, sd)
            acc[f"{kind} alone"] = float(np.mean(hp.argmax(1) == y))
            acc[f"{kind} 0.5"] = float(np.mean(_arith(cnn, hp, 0.5).argmax(1) == y))
            acc[f"{kind} geo"] = float(np.mean(_geo(cnn, hp, 0.5).argmax(1) == y))
            acc[f"{kind} val-arith"] = float(np.mean(_arith(cnn, hp, w_arith).argmax(1) == y))
            acc[f"{kind} val-geo"] = float(np.mean(_geo(cnn, hp, w_geo).argmax(1) == y))
    return {"fold": f"{fold.parent.name}/{fold.name}", "chosen_share": float(model.head_share), **acc}


def run_context(run: Path) -> dict:
    """The run's manifest (as ``audiocnn train`` loaded it) and its training configuration."""
    info = json.loads((run / "run.json").read_text())
    return {"manifest": load_manifest(info["data"], info.get("dataset"), group_column=info.get("group_column")),
            "config": info["config"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="+", help="run folders of `audiocnn train` (with fold_*/)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--heads", default="", help=f"comma-separated head classifiers to fit again: {', '.join(HEADS)}")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    heads = [h for h in args.heads.split(",") if h]
    for h in heads:
        if h not in HEADS:
            raise SystemExit(f"--heads: unknown head {h!r}; choose from {', '.join(HEADS)}")
    rows, per_run = [], []
    for run in args.runs:
        folds = sorted(run.glob("fold_*"))
        if not folds:
            raise SystemExit(f"{run}: no fold_* folders")
        ctx = run_context(run) if heads else None
        r = [fold_scores(f, i, ctx, heads) for i, f in enumerate(folds)]
        rows.extend(r)
        per_run.append(r)
    keys = ["chosen"] + [f"share {s:g}" for s in SHARES] + ["geo"] + [f"{h} {k}" for h in heads for k in ("alone", "0.5", "geo", "val-arith", "val-geo")]
    print("| fold | chosen share | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for r in rows:
        print(f"| {r['fold']} | {r['chosen_share']:g} | " + " | ".join(f"{r[k]:.3f}" for k in keys) + " |")
    for run, r in zip(args.runs, per_run):
        print(f"| {run.name}: mean ± std | | " + " | ".join(f"{np.mean([x[k] for x in r]):.3f} ± {np.std([x[k] for x in r]):.3f}" for k in keys) + " |")
    if len(per_run) > 1:
        print(f"| all {len(rows)} folds: mean | | " + " | ".join(f"{np.mean([x[k] for x in rows]):.3f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
