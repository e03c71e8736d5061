"""Can a small CNN learn the built-in synthetic dataset in a few minutes on a CPU?

A plain PyTorch loop (no Lightning, so it checks the data, not the trainer): ``--model``
(default ``cnn6_lite``, the demo's model) trained from scratch on the training part of each requested fold of the
synthetic set (``make_synthetic_dataset`` defaults: 10 classes x 30 clips x 2 s at 16 kHz),
Adam with a cosine schedule, fixed epochs, evaluated on the test fold. Prints a markdown table.

    nice python benchmarks/synthetic_cnn_check.py --folds 1 --epochs 10
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="cnn6_lite")
    ap.add_argument("--folds", type=int, default=1, help="how many of the 5 folds to run")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-specaugment", action="store_true", help="build the model with spec_augment=False")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from audiocnn import create_model
    from audiocnn.data import AudioCache, ClipDataset, load_manifest, make_folds, make_synthetic_dataset, validate_manifest

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        m = validate_manifest(load_manifest(make_synthetic_dataset(Path(tmp) / "syn")), progress=False)
        for name, tr, te in make_folds(m)[: args.folds]:
            torch.manual_seed(args.seed)
            overrides = {"spec_augment": False} if args.no_specaugment else {}
            model = create_model(args.model, num_classes=len(m.classes), **overrides)
            cache = AudioCache(model.info.sample_rate)
            train = ClipDataset(m.subset(tr), cache, 2.0, train=True)
            test = ClipDataset(m.subset(te), cache, 2.0, train=False)
            dl = torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True)
            opt = torch.optim.Adam(model.parameters(), lr=args.lr)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * len(dl))
            t0 = time.perf_counter()
            for epoch in range(args.epochs):
                model.train()
                for x, y in dl:
                    loss = torch.nn.functional.cross_entropy(model(x)["logits"], y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    sched.step()
                print(f"  epoch {epoch + 1}: last batch loss {loss.item():.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
            t_train = time.perf_counter() - t0
            model.eval()
            with torch.no_grad():
                xs, ys = zip(*[test[i] for i in range(len(test))])
                pred = model(torch.stack(xs))["logits"].argmax(1)
            acc = float((pred == torch.stack(ys)).float().mean())
            rows.append((name, acc, t_train))
            print(f"{name}: accuracy {acc:.3f}, training {t_train:.0f} s", flush=True)
    print(f"\n{args.model}, {args.epochs} epochs, batch {args.batch_size}, Adam lr {args.lr} cosine, SpecAugment {'off' if args.no_specaugment else 'on'} (contended 2-core CPU)\n")
    print("| fold | accuracy | train time (s) |\n|---|---|---|")
    for name, a, t in rows:
        print(f"| {name} | {a:.3f} | {t:.0f} |")
    print(f"| mean | {np.mean([r[1] for r in rows]):.3f} | {np.mean([r[2] for r in rows]):.0f} |")


if __name__ == "__main__":
    main()
