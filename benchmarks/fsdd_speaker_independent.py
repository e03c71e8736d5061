"""FSDD speaker-independent benchmark: leave-one-speaker-out 6-fold, CNN recipe vs MFCC + SVM.

    nice python benchmarks/fsdd_speaker_independent.py --out runs/fsdd_bench [--threads 1]

The CNN rows come from exactly the one-command recipe of docs/training.md:

    audiocnn train --data FSDD --dataset fsdd --folds logo --model cnn6_lite_speech --model-arg lifter=20 --lr 3e-3 --epochs 60 --speed-perturb 0.15 --val-fraction 0.1 --val-split random --adapt-im --out OUT/cnn

which reports three scores per fold: the plain (inductive) one; after test-time BatchNorm
adaptation to the test speaker's unlabelled recordings; and after that plus information
maximisation on the BatchNorm scales/shifts (both transductive; the last assumes the test
speaker's recordings cover the digits roughly evenly, which they do in FSDD).

(resumable: rerunning continues unfinished folds). The baseline is MFCC (20 coefficients +
deltas + delta-deltas; mean and std over time) + standardisation + RBF SVM whose C is chosen
by an inner leave-one-speaker-out search on the training speakers only. Prints a markdown table
with mean ± std over the 6 test speakers and the wall time of each row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

RECIPE = ["--dataset", "fsdd", "--folds", "logo", "--model", "cnn6_lite_speech", "--model-arg", "lifter=20", "--lr", "3e-3",
          "--epochs", "60", "--speed-perturb", "0.15", "--val-fraction", "0.1", "--val-split", "random", "--adapt-im"]


def mfcc_features(paths, sr=8000):
    import librosa

    from audiocnn import load_audio

    feats = []
    for p in paths:
        x, _ = load_audio(p, sample_rate=sr)
        m = librosa.feature.mfcc(y=x, sr=sr, n_mfcc=20, n_fft=256, hop_length=80, n_mels=40)
        width = min(9, m.shape[1] - (1 - m.shape[1] % 2))
        d1 = librosa.feature.delta(m, width=max(3, width)) if m.shape[1] >= 3 else np.zeros_like(m)
        d2 = librosa.feature.delta(m, order=2, width=max(3, width)) if m.shape[1] >= 3 else np.zeros_like(m)
        f = np.concatenate([m, d1, d2])
        feats.append(np.r_[f.mean(1), f.std(1)])
    return np.asarray(feats)


def mfcc_svm(data: Path) -> dict:
    from sklearn.model_selection import GridSearchCV, LeaveOneGroupOut
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from audiocnn.data import load_manifest, make_folds

    t0 = time.time()
    man = load_manifest(data, "fsdd")
    X = mfcc_features([it.path for it in man.items])
    y = man.label_indices()
    groups = man.groups()
    accs = {}
    for name, tr, te in make_folds(man, "logo"):
        search = GridSearchCV(
            make_pipeline(StandardScaler(), SVC(kernel="rbf", gamma="scale")),
            {"svc__C": [1, 10, 100]},
            cv=LeaveOneGroupOut(),
            n_jobs=1,
        )
        search.fit(X[tr], y[tr], groups=groups[tr])  # tuned on the training speakers only
        accs[str(name)] = float(np.mean(search.predict(X[te]) == y[te]))
    return {"per_fold": accs, "seconds": time.time() - t0}


def cnn(data: Path, out: Path, threads: int | None, extra: list[str]) -> dict:
    from audiocnn.cli import main

    t0 = time.time()
    args = ["train", "--data", str(data), *RECIPE, "--out", str(out), "--no-progress", *extra]
    if (out / "run.json").exists():
        args.append("--resume")
    if threads:
        args += ["--threads", str(threads)]
    code = main(args)
    if code:
        raise SystemExit(code)
    m = json.loads((out / "metrics.json").read_text())
    common = {"seconds": time.time() - t0, "fold_seconds": sum(f["seconds"] for f in m["folds"]), "command": "audiocnn " + " ".join(args)}
    plain_key = "accuracy_unadapted" if "accuracy_unadapted" in m["folds"][0] else "accuracy"
    rows = {"plain": {"per_fold": {f["fold"]: f[plain_key] for f in m["folds"]}, **common}}
    if "accuracy_adabn" in m["folds"][0]:
        rows["adabn"] = {"per_fold": {f["fold"]: f["accuracy_adabn"] for f in m["folds"]}, **common}
        rows["im"] = {"per_fold": {f["fold"]: f["accuracy"] for f in m["folds"]}, **common}
    elif plain_key != "accuracy":
        rows["adabn"] = {"per_fold": {f["fold"]: f["accuracy"] for f in m["folds"]}, **common}
    return rows


def row(name, r):
    v = np.array(list(r["per_fold"].values()))
    folds = " ".join(f"{k}:{a:.3f}" for k, a in r["per_fold"].items())
    secs = r.get("fold_seconds", r["seconds"])  # summed per-fold times survive --resume
    return f"| {name} | {v.mean():.3f} ± {v.std():.3f} | {len(v)} | {folds} | {secs:.0f} |"


def main_(argv=None):
    from audiocnn.testing import shared_data_dir

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = shared_data_dir()
    ap.add_argument("--data", default=str(d / "fsdd") if d else None)
    ap.add_argument("--out", default="runs/fsdd_bench")
    ap.add_argument("--threads", type=int, default=None, help="torch threads for the CNN (1 on a busy machine)")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--skip-cnn", action="store_true")
    ap.add_argument("extra", nargs="*", help="more `audiocnn train` flags for the CNN row (after --)")
    args = ap.parse_args(argv)
    if not args.data:
        sys.exit("FSDD not found: pass --data /path/to/fsdd")
    out = Path(args.out)
    rows = []
    if not args.skip_baseline:
        rows.append(row("MFCC + RBF SVM (C tuned on training speakers)", mfcc_svm(Path(args.data))))
    if not args.skip_cnn:
        runs = cnn(Path(args.data), out / "cnn", args.threads, args.extra)
        cmd = "`" + runs["plain"]["command"].split(" --out")[0].replace(str(args.data), "FSDD") + "`"
        rows.append(row(f"CNN, {cmd}: plain (inductive) score", runs["plain"]))
        if "adabn" in runs:
            rows.append(row("the same run, after test-time BatchNorm adaptation to the test speaker (transductive)", runs["adabn"]))
        if "im" in runs:
            rows.append(row("the same run, BatchNorm adaptation + information maximisation (transductive; assumes the "
                            "test speaker's recordings cover the classes roughly evenly)", runs["im"]))
    print("\n| method | accuracy (mean ± std) | folds | per test speaker | wall s (CNN: sum of fold times) |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main_()
