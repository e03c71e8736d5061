"""Test accuracy of other statistics heads on the trained CNNs of a run (the CNN kept, the head refitted).

    python benchmarks/stats_head_variants.py runs/instruments10 --variants 20:1024,20:2048,40:1024 --threads 2

Reads every ``fold_*`` of a run written by ``audiocnn train`` without a validation split (the
default): the fold's model, its test files (``predictions.csv``) and its training files (the
other folds' test files). For each variant ``MFCCS:FEATURES`` it builds the same architecture
with ``stats_head=MFCCS`` and ``head_features=FEATURES``, copies the fold's CNN weights into it,
fits the head on the training files (``fit_stats_head``: the inner cross-validation chooses the
kernel width and C; seed ``--seed``), and scores the test files with the equal-share fusion of
the default and with the head alone. Prints per fold and the mean over folds.

The refitted head differs from the run's own even for the run's variant (the inner folds follow
the order of the files, and the random features their seed), so the run's variant is the
reference to compare against, not the run's reported accuracy. Nothing here is selected on a
test fold by the toolkit: it compares candidates for a default.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from _run_folds import fold_rows, training_rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="the --out folder of an `audiocnn train` run with every fold")
    ap.add_argument("--variants", default="20:1024,20:2048", help="comma-separated MFCCS:FEATURES (FEATURES 0 = linear head)")
    ap.add_argument("--share", type=float, default=0.5, help="the head's share of the fused probabilities")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from audiocnn.data import AudioCache
    from audiocnn.models import create_model, load_model
    from audiocnn.train import stats_head as sh

    variants = [tuple(int(x) for x in v.split(":")) for v in args.variants.split(",")]
    rows = fold_rows(args.run)
    cache, cnn_acc, scores = None, [], {v: [] for v in variants}
    for fold in rows:
        model, bundle = load_model(str(fold / "model"))
        model.eval()
        classes = list(bundle.labels)
        cache = cache or AudioCache(model.sample_rate)
        train = training_rows(rows, fold)
        train_waves = [cache.get(r["path"]) for r in train]
        train_y = np.array([classes.index(r["label"]) for r in train])
        test_waves = [cache.get(r["path"]) for r in rows[fold]]
        test_y = np.array([classes.index(r["label"]) for r in rows[fold]])
        cnn = sh._cnn_probabilities(model, test_waves, bundle.windowing)
        cnn_acc.append(float(np.mean(cnn.argmax(1) == test_y)))
        weights = {k: v for k, v in model.state_dict().items() if not k.startswith("head_")}
        kwargs = {k: v for k, v in (bundle.model_args or {}).items() if k not in ("stats_head", "head_features")}
        for n_mfcc, n_features in variants:
            other = create_model(bundle.model, num_classes=len(classes), stats_head=n_mfcc, head_features=n_features, **kwargs).eval()
            other.load_state_dict(weights, strict=False)
            sh.fit_stats_head(other, train_waves, train_y, bundle.windowing, seed=args.seed, share=args.share)
            X, owners = sh._features(other, test_waves, bundle.windowing, 32)
            head = sh._head_probabilities(other, X, owners, len(test_waves), bundle.windowing)
            fused = (1.0 - args.share) * cnn + args.share * head
            scores[(n_mfcc, n_features)].append((float(np.mean(fused.argmax(1) == test_y)), float(np.mean(head.argmax(1) == test_y))))
        print(fold.name, f"CNN alone {cnn_acc[-1]:.3f}",
              "  ".join(f"{m}:{n} fused {scores[(m, n)][-1][0]:.3f} head {scores[(m, n)][-1][1]:.3f}" for m, n in variants), flush=True)
    print("| variant (MFCCs:features) | fused, mean ± std | head alone | CNN alone |")
    print("|---|---|---|---|")
    for v in variants:
        fused = np.array([a for a, _ in scores[v]])
        print(f"| {v[0]}:{v[1]} | {fused.mean():.3f} ± {fused.std():.3f} | {np.mean([b for _, b in scores[v]]):.3f} | {np.mean(cnn_acc):.3f} |")


if __name__ == "__main__":
    main()
