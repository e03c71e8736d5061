"""Time of one fit of the statistics head (its inner cross-validation and final fit) on a trained run's fold.

    python benchmarks/stats_head_speed.py runs/instruments10 --fold 1 --threads 2 --repeats 3
    python benchmarks/stats_head_speed.py runs/fsdd --fold george --threads 2 --blas-threads 2

Reads fold k's saved model of a run without a validation split (the default) and its training
files (the test files of the run's other folds, with their labels from ``predictions.csv``), cuts
them into the model's windows, computes the MFCC statistics once, and then times
``fit_stats_head``'s fit on them ``--repeats`` times (the fastest is reported). Prints the time
and what the fit chose (kernel width, C, inner log-loss), so two versions of the code can be
compared on the same windows: the same choice, less time. ``--blas-threads N`` runs the fit with
N BLAS/OpenMP threads instead of the one the head uses (the comparison of the one-thread limit).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _run_folds import fold_rows, training_rows
from threadpoolctl import threadpool_limits


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="the --out folder of an `audiocnn train` run with every fold")
    ap.add_argument("--fold", default="1", help="the fold's name: 1 for fold_1, george for fold_george")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="fit with this many BLAS/OpenMP threads (default: the head's own limit, one)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from audiocnn.data import AudioCache
    from audiocnn.models import load_model
    from audiocnn.train import stats_head as sh

    rows = fold_rows(args.run)
    fold = args.run / f"fold_{args.fold}"
    if fold not in rows:
        raise SystemExit(f"{fold}: no such fold in {args.run}")
    model, bundle = load_model(str(fold / "model"))
    model.eval()
    classes = list(bundle.labels)
    train = training_rows(rows, fold)
    cache = AudioCache(model.sample_rate)
    waves = [cache.get(r["path"]) for r in train]
    y = np.array([classes.index(r["label"]) for r in train])
    X, owners = sh._features(model, waves, bundle.windowing, 32)
    times, info = [], {}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        if args.blas_threads is None:
            info = sh._fit(model, X, owners, y, seed=0, share=sh.HEAD_SHARE, t0=t0)
        else:
            with threadpool_limits(limits=args.blas_threads):
                info = sh._fit_one_thread(model, X, owners, y, seed=0, share=sh.HEAD_SHARE, t0=t0, params=None)
        times.append(time.perf_counter() - t0)
    print(f"| windows | features | BLAS threads | fit (fastest of {args.repeats}) | width (1/dim) | C | inner log-loss |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {len(X)} | {int(getattr(model, 'head_features', 0)) or X.shape[1]} | {args.blas_threads or 1} | {min(times):.2f} s "
          f"| {info['gamma']} | {info['C']} | {info['inner_log_loss']:.4f} |")


if __name__ == "__main__":
    main()
