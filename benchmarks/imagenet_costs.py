"""Size, cost and CPU speed of the ImageNet backbones beside PANNs models, per 5-s clip.

    nice python benchmarks/imagenet_costs.py                 # every imagenet_* model + cnn6/cnn10/cnn14
    python benchmarks/imagenet_costs.py --models imagenet_resnet18,cnn10 --threads 2 --rounds 5

Prints a markdown table (docs/results.md holds the figures):

- params: trainable parameters with a 527-class head (as `audiocnn models`);
- MACs: multiply-accumulates of one 5-s clip, from `audiocnn.models.analysis` (the mel
  front-end counted as the DFT convolution PANNs uses; the multi-resolution front-end computes
  three STFTs with a 100-ms FFT, so its count is large although we compute it with an FFT);
  "network MACs" leaves the front-end out;
- ms/clip: median wall time of `model(waveform)` for one 5-s clip (batch 1, inference mode,
  `--threads` threads), front-end included; `--rounds` timed runs after one warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import audiocnn
from audiocnn.models.analysis import model_stats

DEFAULT = ",".join(audiocnn.list_models("imagenet_*") + ["cnn6", "cnn10", "cnn14"])


def time_model(name: str, seconds: float, rounds: int) -> float:
    model = audiocnn.create_model(name).eval()
    x = 0.1 * torch.randn(1, int(seconds * model.sample_rate))
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(rounds):
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=DEFAULT)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-timing", action="store_true", help="parameters and MACs only")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"| model | input | sample rate | params (M) | MACs / {args.seconds:g} s (G) | network MACs (G) | ms / clip ({args.threads} thread{'s' if args.threads > 1 else ''}) |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        s = model_stats(name, seconds=args.seconds, cache=False)
        ms = "-" if args.no_timing else f"{time_model(name, args.seconds, args.rounds):.0f}"
        print(
            f"| {name} | {s.input} | {s.sample_rate} | {s.params / 1e6:.2f} | {s.macs / 1e9:.2f} | "
            f"{(s.macs - s.frontend_macs) / 1e9:.2f} | {ms} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
