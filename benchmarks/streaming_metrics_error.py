"""Streaming mAP / AUC (score histograms) against scikit-learn's exact values (docs/scaling.md).

Tagger-like data: sparse multi-hot targets (0.5-10 % positives per class) and sigmoid scores
crowded near 0 (negative logits ~ N(-5, 2), positives shifted by ~ N(4, 2)).

    python benchmarks/streaming_metrics_error.py --clips 20000 --classes 50
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from audiocnn.evaluate.streaming import StreamingTaggingMetrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=20000)
    ap.add_argument("--classes", type=int, default=50)
    ap.add_argument("--bins", type=int, nargs="+", default=[1024, 4096, 16384])
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n, c = args.clips, args.classes
    t = (rng.random((n, c)) < rng.uniform(0.005, 0.1, c)).astype(int)
    p = 1 / (1 + np.exp(-(rng.normal(-5, 2, (n, c)) + t * rng.normal(4, 2, (n, c)))))
    ap_exact = np.array([average_precision_score(t[:, k], p[:, k]) for k in range(c)])
    auc_exact = np.array([roc_auc_score(t[:, k], p[:, k]) for k in range(c)])
    print(f"{n} clips, {c} classes")
    print("| bins | max per-class AP error | mAP error | max per-class AUC error | mean AUC error |")
    print("|---:|---:|---:|---:|---:|")
    for b in args.bins:
        m = StreamingTaggingMetrics(c, bins=b)
        for s in range(0, n, 500):
            m.update(t[s : s + 500], p[s : s + 500])
        a, u = m.average_precision(), m.roc_auc()
        print(f"| {b:,} | {np.abs(a - ap_exact).max():.2g} | {abs(a.mean() - ap_exact.mean()):.2g} | "
              f"{np.abs(u - auc_exact).max():.2g} | {abs(u.mean() - auc_exact.mean()):.2g} |")


if __name__ == "__main__":
    main()
