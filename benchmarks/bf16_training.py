"""Training-step time of a model in fp32 and in bf16 autocast on the CPU.

    python benchmarks/bf16_training.py --model cnn6_lite --seconds 3 --batch 16 --threads 2

One step = forward, cross-entropy, backward and an AdamW update on a random batch, as
``audiocnn train`` does (Lightning's ``--precision bf16-mixed`` is ``torch.autocast("cpu",
torch.bfloat16)`` around the forward). The two precisions are timed in alternation, ``--rounds``
times ``--steps`` steps each, and the fastest round of each is reported, so a machine shared with
other work penalises both alike. Prints one markdown table row per precision.
"""

from __future__ import annotations

import argparse
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
    args = ap.parse_args(argv)

    from audiocnn.models import create_model

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = create_model(args.model, num_classes=10).train()
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x = 0.1 * torch.randn(args.batch, int(args.seconds * model.sample_rate))
    y = torch.randint(0, 10, (args.batch,))

    def step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)["logits"]
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    best = {False: float("inf"), True: float("inf")}
    for bf16 in (False, True):
        for _ in range(2):
            step(bf16)  # warm-up (oneDNN primitive caches)
    for _ in range(args.rounds):
        for bf16 in (False, True):
            t = time.perf_counter()
            for _ in range(args.steps):
                step(bf16)
            best[bf16] = min(best[bf16], (time.perf_counter() - t) / args.steps)
    print("| model | clip | batch | threads | precision | s per step (best round) | relative |")
    print("|---|---|---|---|---|---|---|")
    for bf16 in (False, True):
        print(f"| {args.model} | {args.seconds:g} s | {args.batch} | {args.threads} | {'bf16 autocast' if bf16 else 'fp32'} "
              f"| {best[bf16]:.3f} | {best[False] / best[bf16]:.2f}x |")


if __name__ == "__main__":
    main()
