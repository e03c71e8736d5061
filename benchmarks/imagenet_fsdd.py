"""Random-initialisation accuracy on FSDD: an ImageNet backbone beside a PANNs-style CNN of similar cost.

    nice python benchmarks/imagenet_fsdd.py                       # 1 leave-one-speaker-out fold, 8 epochs
    nice python benchmarks/imagenet_fsdd.py --max-folds 6 --epochs 30   # the full protocol

Runs `audiocnn train` (the toolkit's training loop: same folds, seed and recipe for both models)
on `../shared/data/fsdd` with speaker-independent folds (`--folds logo`: leave one speaker out)
and prints a markdown table from each run's metrics.json. With two models it also writes
OUT/comparison.md (+ .json, .png): the two models paired fold by fold (`compare_runs`; the
runs share folds, validation splits and seeds). ImageNet weights cannot be fetched here, so only
`--init random` is run for the ImageNet model; with torchvision's file,
`audiocnn train ... --model imagenet_resnet18 --init imagenet,random --imagenet-weights FILE`
runs and compares both initialisations.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from audiocnn.testing import shared_data_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="imagenet_resnet18,cnn_small")
    ap.add_argument("--max-folds", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="runs/imagenet_fsdd")
    ap.add_argument("--reuse", action="store_true", help="only read existing runs in --out")
    args = ap.parse_args()
    data = shared_data_dir()
    if data is None:
        sys.exit("needs ../shared/data/fsdd")
    rows = []
    for model in args.models.split(","):
        out = Path(args.out) / model
        t0 = time.time()
        if not args.reuse:
            cmd = [sys.executable, "-m", "audiocnn.cli", "train", "--data", str(data / "fsdd"), "--dataset", "fsdd",
                   "--model", model, "--folds", "logo", "--max-folds", str(args.max_folds), "--epochs", str(args.epochs),
                   "--threads", str(args.threads), "--seed", "0", "--no-progress", "--out", str(out)]
            if model.startswith("imagenet_"):
                cmd += ["--init", "random"]
            subprocess.run(cmd, check=True)
        wall = time.time() - t0
        m = json.loads((out / "metrics.json").read_text())
        acc = m["summary"]["accuracy"]
        rows.append((model, acc["mean"], acc.get("std", 0.0), len(m.get("folds", [])), wall))
    models = args.models.split(",")
    if len(models) == 2:
        from audiocnn.evaluate.compare import compare_runs, write_comparison

        write_comparison(args.out, compare_runs({m: Path(args.out) / m for m in models}))
        print(f"paired comparison: {args.out}/comparison.md")
    print("| model | init | accuracy (mean ± std) | folds | epochs | wall time (s) |")
    print("|---|---|---|---|---|---|")
    for model, mean, std, folds, wall in rows:
        init = "random" if model.startswith("imagenet_") else "PANNs init"
        print(f"| {model} | {init} | {100 * mean:.1f} ± {100 * std:.1f} % | {folds} | {args.epochs} | {'-' if args.reuse else f'{wall:.0f}'} |")


if __name__ == "__main__":
    main()
