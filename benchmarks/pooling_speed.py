"""2x2 average pooling in training: ``F.avg_pool2d`` against ``audiocnn.models.layers.avg_pool_2x2``.

    python benchmarks/pooling_speed.py --seconds 10 --batch 16 --threads 2

Times forward + backward of both on the four feature maps that the conv blocks of ``cnn6_lite``
pool for a clip of ``--seconds`` (16 kHz, 20 ms hop, 64 mel bins; 16, 32, 64 and 128 channels),
in bfloat16 (what bf16 autocast trains with) and float32, and checks that values and gradients
are equal. The best of ``--rounds`` rounds of ``--steps`` passes; one markdown row per dtype.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from audiocnn.models.layers import avg_pool_2x2


def seconds_per_pass(pool, x: torch.Tensor, grad: torch.Tensor, steps: int, rounds: int) -> float:
    x = x.clone().requires_grad_()
    for _ in range(2):
        pool(x).backward(grad)
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(steps):
            pool(x).backward(grad)
        best = min(best, (time.perf_counter() - t) / steps)
    return best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    frames = int(args.seconds * 16000) // 320 + 1
    shapes = [(args.batch, 16 << i, frames >> i, 64 >> i) for i in range(4)]

    print("| clip | batch | dtype | F.avg_pool2d, ms per forward + backward (4 maps) | avg_pool_2x2 | speed-up | equal |")
    print("|---|---|---|---|---|---|---|")
    for dtype in (torch.bfloat16, torch.float32):
        total = {"native": 0.0, "fast": 0.0}
        equal = True
        for shape in shapes:
            g = torch.Generator().manual_seed(0)
            x = torch.randn(*shape, generator=g).to(dtype)
            grad = torch.randn(*F.avg_pool2d(x, 2).shape, generator=g).to(dtype)
            a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
            ya, yb = F.avg_pool2d(a, 2), avg_pool_2x2(b)
            ya.backward(grad)
            yb.backward(grad)
            equal &= torch.equal(ya, yb) and torch.equal(a.grad, b.grad)
            total["native"] += seconds_per_pass(lambda t: F.avg_pool2d(t, 2), x, grad, args.steps, args.rounds)
            total["fast"] += seconds_per_pass(avg_pool_2x2, x, grad, args.steps, args.rounds)
        name = str(dtype).removeprefix("torch.")
        print(f"| {args.seconds:g} s | {args.batch} | {name} | {1e3 * total['native']:.1f} | {1e3 * total['fast']:.1f} "
              f"| {total['native'] / total['fast']:.2f}x | {'yes' if equal else 'NO'} |")


if __name__ == "__main__":
    main()
