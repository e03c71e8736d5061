"""How much of ``--adapt-im``'s gain survives when the test audio is *not* class-balanced?

    python benchmarks/fsdd_adaptation_check.py RUN_DIR [RUN_DIR ...] [--imbalance 5]

For every ``fold_<speaker>/best.pth`` of an FSDD leave-one-speaker-out run (``audiocnn train
--dataset fsdd --folds logo ...``), scores the held-out speaker's recordings plain, after
test-time BatchNorm adaptation (``--adapt-bn``) and after information maximisation
(``--adapt-im``), with ``audiocnn.evaluate.protocol.evaluate_checkpoint``:

- on all 500 recordings (each digit 50 times: the balanced case the diversity term assumes);
- on an imbalanced subset: per speaker the ten digits, in a random order (seeded by the
  speaker's name), keep 10, 14, ..., 50 recordings (linearly spaced; max/min = ``--imbalance``).

Information maximisation's diversity term pushes the predictions towards using every class
equally, which FSDD's balanced test speakers reward; the imbalanced rows show what is left of
the gain when that assumption is wrong. Prints a markdown table (mean over folds and per fold).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def imbalanced_subset(manifest, speaker: str, ratio: float):
    """Indices of a class-imbalanced subset of one speaker's items (see the module docstring)."""
    rng = np.random.default_rng(sum(map(ord, speaker)))
    y = manifest.label_indices()
    n_classes = len(manifest.classes)
    per_class = min(np.bincount(y, minlength=n_classes))
    counts = np.linspace(per_class / ratio, per_class, n_classes).round().astype(int)
    keep = dict(zip(rng.permutation(n_classes), counts))
    return np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[: keep[c]] for c in range(n_classes)]))


def main(argv=None) -> int:
    from audiocnn.data import load_manifest
    from audiocnn.evaluate.protocol import evaluate_checkpoint
    from audiocnn.testing import shared_data_dir

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="output folders of FSDD leave-one-speaker-out runs")
    d = shared_data_dir()
    ap.add_argument("--data", default=str(d / "fsdd") if d else None)
    ap.add_argument("--imbalance", type=float, default=5.0, help="largest / smallest class count of the imbalanced subset")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if not args.data:
        sys.exit("FSDD not found: pass --data /path/to/fsdd")
    import torch

    torch.set_num_threads(args.threads)
    full = load_manifest(args.data, "fsdd")
    print(f"Command: `python benchmarks/fsdd_adaptation_check.py {' '.join(argv if argv is not None else sys.argv[1:])}`\n")
    print("| run | test set | plain | --adapt-bn | --adapt-im | per speaker (plain / bn / im) |")
    print("|---|---|---:|---:|---:|---|")
    for run in map(Path, args.runs):
        folds = sorted(run.glob("fold_*/best.pth"))
        if not folds:
            sys.exit(f"{run}: no fold_*/best.pth")
        # score as the run did: sliding windows or centre crops
        windows = json.loads((run / "metrics.json").read_text())["config"]["eval"].startswith("sliding")
        for kind in ("all recordings", f"imbalanced {args.imbalance:g}:1"):
            rows = []
            for ckpt in folds:
                speaker = ckpt.parent.name[len("fold_"):]
                idx = np.flatnonzero(full.groups() == speaker)
                man = full.subset(idx)
                if kind != "all recordings":
                    man = man.subset(imbalanced_subset(man, speaker, args.imbalance))
                m = evaluate_checkpoint(ckpt, args.data, manifest=man, windows=windows, adapt_im=True, cache_dir=args.cache_dir)
                rows.append((speaker, m["accuracy_unadapted"], m["accuracy_adabn"], m["accuracy"], len(man.items)))
                print(f"  {run.name} {kind} {speaker}: n={len(man.items)} {rows[-1][1]:.3f} {rows[-1][2]:.3f} {rows[-1][3]:.3f}",
                      file=sys.stderr, flush=True)
            a = np.array([r[1:4] for r in rows])
            per = " ".join(f"{r[0]} {r[1]:.3f}/{r[2]:.3f}/{r[3]:.3f}" for r in rows)
            print(f"| {run.name} | {kind} ({rows[0][4]} clips per speaker) | {a[:, 0].mean():.3f} | {a[:, 1].mean():.3f} | "
                  f"{a[:, 2].mean():.3f} | {per} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
