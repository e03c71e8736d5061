"""How close is balanced sampling on tar shards (weighted resampling in the stream) to the exact
PANNs balanced sampler? (docs/scaling.md)

A synthetic multi-label corpus with Zipf-like class frequencies is packed into tar shards; one
epoch of draws is taken (a) by the exact sampler (audiocnn.data.BalancedSampler, what HDF5
training uses), (b) by the stream with ``balanced=True``, (c) by the plain shuffled stream.
For each: the label count of every class over the epoch (max / min over classes, coefficient
of variation), the total-variation distance of the per-class label shares to the exact
sampler's, and how close together repeats of one clip fall (median gap in draws between two
draws of the same clip; the exact sampler spreads them over the epoch, the stream keeps them
within its shuffle buffer).

    python benchmarks/balanced_stream.py --clips 20000 --classes 50
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np


def stats(draws: list[int], targets: np.ndarray, ref_share: np.ndarray | None = None) -> dict:
    counts = targets[np.asarray(draws)].sum(0)
    share = counts / counts.sum()
    last, gaps = {}, []
    for pos, i in enumerate(draws):
        if i in last:
            gaps.append(pos - last[i])
        last[i] = pos
    return {"draws": len(draws), "max/min": float(counts.max() / max(counts.min(), 1)), "cv": float(counts.std() / counts.mean()),
            "tv_to_exact": float(0.5 * np.abs(share - ref_share).sum()) if ref_share is not None else 0.0,
            "median_repeat_gap": float(np.median(gaps)) if gaps else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=20000)
    ap.add_argument("--classes", type=int, default=50)
    ap.add_argument("--shard-size", type=int, default=500)
    ap.add_argument("--shuffle-buffer", type=int, default=512)
    ap.add_argument("--work", default="/tmp/audiocnn_balanced_bench")
    args = ap.parse_args()
    from audiocnn.data import BalancedSampler
    from audiocnn.data.shards import PackOptions, ShardStream, SyntheticSource, pack

    src = SyntheticSource(args.clips, seconds=0.05, num_classes=args.classes, seed=0)
    targets = np.zeros((args.clips, args.classes))
    for i in range(args.clips):
        targets[i, src.record(i)["target"]] = 1
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    index = pack(src, work / "s", PackOptions(sample_rate=8000, shard_size=args.shard_size), num_workers=2, progress=False)

    def stream_draws(balanced: bool) -> list[int]:
        s = ShardStream(index, 0.05, 50, shuffle_buffer=args.shuffle_buffer, balanced=balanced)
        draws = [int(k) for batch in s.keys() for k in batch]  # keys are the clips' indices in the source
        return draws

    exact = list(BalancedSampler(targets, seed=0))
    ref = targets[np.asarray(exact)].sum(0)
    ref_share = ref / ref.sum()
    rows = {"exact sampler (HDF5)": stats(exact, targets), "stream, balanced=True (tar)": stats(stream_draws(True), targets, ref_share),
            "stream, plain shuffle": stats(stream_draws(False), targets, ref_share)}
    shutil.rmtree(work, ignore_errors=True)
    print(f"{args.clips} clips, {args.classes} classes (label counts {int(targets.sum(0).max())} .. {int(targets.sum(0).min())}), "
          f"shuffle buffer {args.shuffle_buffer}")
    print("| sampler | draws | class label counts max/min | CV | TV distance to exact | median gap between repeats |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['draws']} | {r['max/min']:.2f} | {r['cv']:.3f} | {r['tv_to_exact']:.3f} | {r['median_repeat_gap']:.0f} |")


if __name__ == "__main__":
    main()
