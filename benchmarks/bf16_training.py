"""Training-step time of a model in fp32 and in bf16 autocast on the CPU.

    python benchmarks/bf16_training.py --model cnn6_lite --seconds 3 --batch 16 --threads 2
    python benchmarks/bf16_training.py --model cnn10_lite --seconds 10 --layouts --precisions bf16

``--layouts`` also times each precision with the 4-D weights channels-last (what ``audiocnn
train`` does for the PANNs-style CNNs on a CPU), each on its own copy of the same initial model.

One step = forward, cross-entropy, backward and an AdamW update on a random batch, as
``audiocnn train`` does (Lightning's ``--precision bf16-mixed`` is ``torch.autocast("cpu",
torch.bfloat16)`` around the forward). The two precisions are timed in alternation, ``--rounds``
times ``--steps`` steps each, and the fastest round of each is reported, so a machine shared with
other work penalises both alike. Prints one markdown table row per precision.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="cnn6_lite")
    ap.add_argument("--seconds", type=float, default=3.0, help="clip length")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--layouts", action="store_true", help="also time channels-last weights")
    ap.add_argument("--precisions", default="fp32,bf16", help="comma-separated: fp32, bf16")
    args = ap.parse_args(argv)

    from audiocnn.models import create_model

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    base = create_model(args.model, num_classes=10).train()
    x = 0.1 * torch.randn(args.batch, int(args.seconds * base.sample_rate))
    y = torch.randint(0, 10, (args.batch,))
    variants = [(p, layout) for p in args.precisions.split(",") for layout in (("standard", "channels-last") if args.layouts else ("standard",))]
    runs = {}
    for precision, layout in variants:
        model = copy.deepcopy(base)
        if layout == "channels-last":
            model = model.to(memory_format=torch.channels_last)
        runs[precision, layout] = (model, torch.optim.AdamW(model.parameters(), 1e-3))

    def step(variant) -> None:
        model, opt = runs[variant]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant[0] == "bf16"):
            logits = model(x)["logits"]
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    best = dict.fromkeys(variants, float("inf"))
    for v in variants:
        for _ in range(2):
            step(v)  # warm-up (oneDNN primitive caches)
    for _ in range(args.rounds):
        for v in variants:
            t = time.perf_counter()
            for _ in range(args.steps):
                step(v)
            best[v] = min(best[v], (time.perf_counter() - t) / args.steps)
    first = best[variants[0]]
    print("| model | clip | batch | threads | precision | weights | s per step (best round) | relative |")
    print("|---|---|---|---|---|---|---|---|")
    for (precision, layout), t in best.items():
        name = "bf16 autocast" if precision == "bf16" else "fp32"
        print(f"| {args.model} | {args.seconds:g} s | {args.batch} | {args.threads} | {name} | {layout} "
              f"| {t:.3f} | {first / t:.2f}x |")


if __name__ == "__main__":
    main()
