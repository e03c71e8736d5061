"""Per-layer time of Cnn14's 3x3 convolutions in bf16: oneDNN's direct convolution against
Winograd F(2x2, 3x3) (``audiocnn.inference.winograd``), batch 8 of 10-s clips at 32 kHz.

    python benchmarks/winograd_layers.py --threads 2

Prints a markdown table; the ratio decides ``winograd.DEFAULT_MIN_OUT_CHANNELS`` (convert the
layers where Winograd is faster). Random weights and post-ReLU random inputs: time does not
depend on the values.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
import torch.nn.functional as F

from audiocnn.inference.winograd import winograd_conv3x3, winograd_weight

# (in, out, frames, mel bins) of Cnn14's twelve 3x3 convs after the first (1 input channel)
CNN14_LAYERS = [
    (64, 64, 1001, 64), (64, 128, 500, 32), (128, 128, 500, 32), (128, 256, 250, 16), (256, 256, 250, 16),
    (256, 512, 125, 8), (512, 512, 125, 8), (512, 1024, 62, 4), (1024, 1024, 62, 4), (1024, 2048, 31, 2),
    (2048, 2048, 31, 2),
]


def best_time(fn, rounds: int) -> float:
    fn()  # warm-up (oneDNN primitive creation)
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"Command: `python benchmarks/winograd_layers.py {' '.join(argv if argv is not None else sys.argv[1:])}`, "
          f"batch {args.batch}, {args.threads} threads, best of {args.rounds}\n")
    print("| layer (in -> out, map) | direct bf16 ms | Winograd bf16 ms | speed-up | rel. error direct | rel. error Winograd |")
    print("|---|---:|---:|---:|---:|---:|")
    tot_d = tot_w = 0.0
    for c, o, h, w in CNN14_LAYERS:
        x = torch.relu(torch.randn(args.batch, c, h, w)).contiguous(memory_format=torch.channels_last)
        wt = torch.randn(o, c, 3, 3) / (3 * c**0.5)
        ref = F.conv2d(x, wt, padding=1)
        xb, wb, u = x.bfloat16(), wt.bfloat16().contiguous(memory_format=torch.channels_last), winograd_weight(wt)
        err = lambda y: ((y.float() - ref).norm() / ref.norm()).item()  # noqa: E731
        e_d, e_w = err(F.conv2d(xb, wb, padding=1)), err(winograd_conv3x3(xb, u))
        t_d = best_time(lambda: F.conv2d(xb, wb, padding=1), args.rounds)
        t_w = best_time(lambda: winograd_conv3x3(xb, u), args.rounds)
        tot_d, tot_w = tot_d + t_d, tot_w + (t_w if o >= 512 else t_d)
        print(f"| {c} -> {o}, {h}x{w} | {t_d * 1e3:.1f} | {t_w * 1e3:.1f} | {t_d / t_w:.2f}x | {e_d:.4f} | {e_w:.4f} |", flush=True)
    print(f"\nAll direct: {tot_d * 1e3:.0f} ms; with the layers of >= 512 outputs by Winograd: {tot_w * 1e3:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
