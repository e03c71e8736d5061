"""Do the `audiocnn train` defaults beat the baselines? FSDD, instruments10 and the synthetic set.

    nice python benchmarks/defaults_vs_baselines.py --out runs/defaults_vs_baselines --threads 1
    nice python benchmarks/defaults_vs_baselines.py --datasets instruments10,synthetic --threads 1 -- --epochs 60

For each data set this runs exactly the command a user runs, with no flag that changes training:

    audiocnn train --data DATA [--dataset fsdd --folds logo] --baselines random-cnn --out OUT/<set>

- ``fsdd``: the Free Spoken Digit Dataset, leave one speaker out (6 folds), inductive (no
  test-time adaptation);
- ``instruments10``: 300 real recordings of 10 instruments, the default 5 stratified folds;
- ``synthetic``: ``audiocnn.data.make_synthetic_dataset`` (10 classes x 30 clips of 2 s, its 5
  predefined folds).

The data come from ``audiocnn.testing.shared_data_dir()`` (FSDD, instruments10); a set that is
absent is skipped with a message. The baselines (MFCC + SVM and random CNN + SVM) are scored by
the same run, on the same test folds, tuned on the training folds only. Flags after ``--`` go to
every ``audiocnn train`` (e.g. a candidate default); ``--threads`` goes to it as well.

Prints a markdown table (data set, folds, model mean ± std over folds, each baseline, the margin
over MFCC + SVM, wall time, the best epoch of every fold) and writes ``OUT/results.json`` with
the commands, versions, per-fold figures and wall times. Rerunning continues unfinished runs
(``--resume``) and reuses finished ones.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

DATASETS = ("fsdd", "instruments10", "synthetic")
FLAGS = {"fsdd": ["--dataset", "fsdd", "--folds", "logo"], "instruments10": [], "synthetic": []}


def data_path(name: str, out: Path) -> Path | None:
    from audiocnn.testing import shared_data_dir

    if name == "synthetic":
        from audiocnn.data import make_synthetic_dataset

        return make_synthetic_dataset(out / "data" / "synthetic")
    shared = shared_data_dir()
    path = shared / name if shared is not None else None
    return path if path is not None and path.exists() else None


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_one(name: str, data: Path, out: Path, threads: int | None, random_cnn: bool, max_folds: int | None, extra: list[str]) -> dict:
    run = out / name
    cmd = ["audiocnn", "train", "--data", str(data), *FLAGS[name], "--out", str(run), "--no-progress"]
    if random_cnn:
        cmd += ["--baselines", "random-cnn"]
    if threads:
        cmd += ["--threads", str(threads)]
    if max_folds:
        cmd += ["--max-folds", str(max_folds)]
    cmd += extra
    metrics_file = run / "metrics.json"
    seconds = None
    if metrics_file.exists():
        print(f"{name}: finished run in {run}, reused", flush=True)
    else:
        if (run / "run.json").exists():
            cmd.append("--resume")
        print("$ " + " ".join(cmd), flush=True)
        t0 = time.time()
        code = subprocess.run([sys.executable, "-m", "audiocnn.cli", *cmd[1:]]).returncode
        seconds = time.time() - t0
        if code:
            raise SystemExit(f"{name}: audiocnn train exited with {code}")
    m = json.loads(metrics_file.read_text())
    key = "accuracy"
    folds = m["folds"]
    epochs = m["config"]["epochs"]
    row = {
        "dataset": name,
        "command": " ".join(c for c in cmd if c != "--resume"),
        "n_folds": m["summary"]["n_folds"],
        "n_folds_total": m["summary"]["n_folds_total"],
        "model": m["config"]["model"],
        "clip_seconds": m["config"]["clip_seconds_used"],
        "sample_rate": m["config"]["sample_rate"],
        "epochs": epochs,
        "model_mean": m["summary"][key]["mean"],
        "model_std": m["summary"][key]["std"],
        "model_folds": {f["fold"]: f[key] for f in folds},
        # with a late-fused stats_head, the CNN alone on the same folds
        "cnn_only_mean": (m["summary"].get(f"{key}_cnn_only") or {}).get("mean"),
        "cnn_only_std": (m["summary"].get(f"{key}_cnn_only") or {}).get("std"),
        "best_epochs": {f["fold"]: f["best_epoch"] for f in folds},
        "epochs_run": {f["fold"]: f["epochs_run"] for f in folds},
        # how many folds picked one of the last 8 epochs of the schedule: still improving at the end?
        "best_in_last_8": sum(int(f["best_epoch"] > epochs - 8) for f in folds),
        "train_seconds": sum(f["seconds"] for f in folds),
        "run_wall_seconds": m["wall_seconds"],
        "process_seconds": seconds,
        "baselines": {},
    }
    for bkey, b in (m.get("baselines") or {}).items():
        if "summary" not in b:
            row["baselines"][bkey] = {"title": b["title"], "error": b.get("error")}
            continue
        row["baselines"][bkey] = {
            "title": b["title"],
            "mean": b["summary"][key]["mean"],
            "std": b["summary"][key]["std"],
            "folds": {f["fold"]: f[key] for f in b["folds"]},
            "seconds": b["seconds"],
            "description": b["description"],
        }
    return row


def cell(b: dict | None) -> str:
    if not b:
        return "-"
    return f"failed ({b['error']})" if "error" in b else f"{b['mean']:.3f} ± {b['std']:.3f}"


def table(rows: list[dict]) -> str:
    lines = [
        "| data set | folds | model (defaults) | CNN alone | MFCC + SVM | random CNN + SVM | model − MFCC | wall time | best epoch per fold (of N) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mf = r["baselines"].get("mfcc_svm")
        margin = f"{100 * (r['model_mean'] - mf['mean']):+.1f} points" if mf and "mean" in mf else "-"
        folds = f"{r['n_folds']}" + (f" of {r['n_folds_total']}" if r["n_folds"] < r["n_folds_total"] else "")
        best = " ".join(str(e) for e in r["best_epochs"].values()) + f" (of {r['epochs']})"
        alone = f"{r['cnn_only_mean']:.3f} ± {r['cnn_only_std']:.3f}" if r.get("cnn_only_mean") is not None else "-"
        lines.append(
            f"| {r['dataset']} | {folds} | {r['model_mean']:.3f} ± {r['model_std']:.3f} | {alone} | {cell(mf)} | "
            f"{cell(r['baselines'].get('random_cnn_svm'))} | {margin} | {r['run_wall_seconds'] / 60:.1f} min | {best} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/defaults_vs_baselines"))
    ap.add_argument("--datasets", default=",".join(DATASETS), help=f"comma list of {', '.join(DATASETS)}")
    ap.add_argument("--threads", type=int, default=None, help="torch threads of each training run (1 on a shared machine)")
    ap.add_argument("--max-folds", type=int, default=None, help="only the first N folds of each set (a quick look)")
    ap.add_argument("--no-random-cnn", action="store_true", help="MFCC + SVM only (the random CNN costs an embedding pass)")
    ap.add_argument("extra", nargs="*", help="more `audiocnn train` flags, after --")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    bad = [n for n in names if n not in DATASETS]
    if bad:
        ap.error(f"--datasets: unknown {', '.join(bad)}; choose from {', '.join(DATASETS)}")

    from audiocnn import __version__
    from audiocnn.atomic import write_json_atomic

    args.out.mkdir(parents=True, exist_ok=True)
    commit, load_start = git_commit(), os.getloadavg()  # the code that runs: HEAD when the benchmark starts
    rows = []
    for name in names:
        data = data_path(name, args.out)
        if data is None:
            print(f"{name}: data not found (audiocnn.testing.shared_data_dir()), skipped", flush=True)
            continue
        rows.append(run_one(name, data, args.out, args.threads, not args.no_random_cnn, args.max_folds, args.extra))
        result = {
            "date": datetime.date.today().isoformat(),
            "version": __version__,
            "git_commit": commit,
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average_start": load_start,
                        "load_average_end": os.getloadavg()},
            "threads": args.threads,
            "extra_flags": args.extra,
            "rows": rows,
        }
        write_json_atomic(args.out / "results.json", result)  # after every set: an interrupted run keeps the finished ones
    print()
    print(table(rows))
    print(f"\nresults: {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
