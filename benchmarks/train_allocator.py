"""`audiocnn train` with glibc's default malloc against the toolkit's setting (freed blocks kept).

    python benchmarks/train_allocator.py --data ../shared/data/instruments10 --max-folds 2 --epochs 10

Runs the same training command in alternation, ``--rounds`` times each: once as it is (the
toolkit calls :func:`audiocnn.cpu.keep_freed_memory`) and once with ``GLIBC_TUNABLES=`` in the
environment, which makes the toolkit leave glibc's defaults alone. Reports, per run, the wall
time, the fold times from each fold's ``result.json``, the minor page faults and the system CPU
time of the child process, and the accuracy (which the allocator must not change). Anything
after ``--`` goes to ``audiocnn train``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(out: Path, keep: bool, args) -> dict:
    env = dict(os.environ)
    env.pop("GLIBC_TUNABLES", None)
    if not keep:
        env["GLIBC_TUNABLES"] = ""
    cmd = [sys.executable, "-m", "audiocnn.cli", "train", "--data", args.data, "--out", str(out), "--no-baselines",
           "--no-progress", "-q", "--threads", str(args.threads), "--max-folds", str(args.max_folds),
           "--epochs", str(args.epochs), *args.extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    folds = sorted(out.glob("fold_*/result.json"))
    results = [json.loads(f.read_text()) for f in folds]
    return {
        "allocator": "kept (default)" if keep else "glibc defaults",
        "wall": wall,
        "folds": [r["seconds"] for r in results],
        "accuracy": [r["accuracy"] for r in results],
        "minor_faults": after.ru_minflt - before.ru_minflt,
        "sys": after.ru_stime - before.ru_stime,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--max-folds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("extra", nargs="*", help="after --: more `audiocnn train` flags")
    args = ap.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for keep in (True, False):
                rows.append(run_once(Path(tmp) / f"{r}_{int(keep)}", keep, args))
    print("| allocator | wall time | fold times | minor page faults | system CPU time | accuracy per fold |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        folds = ", ".join(f"{s:.0f} s" for s in row["folds"])
        acc = ", ".join(f"{a:.4f}" for a in row["accuracy"])
        print(f"| {row['allocator']} | {row['wall']:.0f} s | {folds} | {row['minor_faults']:,} | {row['sys']:.1f} s | {acc} |")


if __name__ == "__main__":
    main()
