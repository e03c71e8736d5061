"""Architecture triage on FSDD: for each model, accuracy with random weights + SVM (nested CV) and
after a short training run on the same speaker-independent folds, and their Spearman correlation.

    nice python benchmarks/triage.py                                   # default: 6 pons_* front-ends, dim 256, 2 folds, 4 epochs
    nice python benchmarks/triage.py --models pons_vgg,pons_timbral,cnn_tiny,... --epochs 10 --max-folds 6

Prints a markdown table; writes triage.csv/.md/.png/.json and the training runs under --out.
All models run at 8 kHz (FSDD's rate), 1.0-s clips; the pons_* front-ends use dim 256 (small enough
to train a few epochs on a shared CPU) and the spectrogram settings of random_cnn_fsdd.py.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from audiocnn.evaluate.random_cnn_study import run_triage, triage_markdown
from audiocnn.data import load_manifest
from audiocnn.testing import shared_data_dir

MODELS = "pons_7x96,pons_timbral,pons_temporal,pons_vgg,pons_sample_level,pons_frame_level"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="FSDD root (default: ../shared/data/fsdd)")
    p.add_argument("--models", default=MODELS)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--max-folds", type=int, default=2, help="first N of the 6 leave-one-speaker-out folds")
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--grid", choices=("full", "small"), default="small")
    p.add_argument("--takes", type=int, default=50, help="use takes 0..N-1 of each speaker and digit (FSDD has 50; fewer = a faster, still speaker-independent run)")
    p.add_argument("--out", default="runs/bench_triage")
    p.add_argument("--cache-dir", default=None, help="embedding cache (default OUT/cache; share it with random_cnn_fsdd.py)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("lightning").setLevel(logging.WARNING)
    data = Path(args.data) if args.data else (shared_data_dir() or Path("../shared/data")) / "fsdd"
    if not (data / "metadata.csv").exists():
        print(f"FSDD not found at {data}", file=sys.stderr)
        return 1
    overrides = {"sample_rate": 8000, "n_fft": 256, "hop_length": 128, "n_mels": 96, "f_max": 4000.0, "dim": args.dim}
    manifest = load_manifest(data, "fsdd")
    manifest = manifest.subset([i for i, it in enumerate(manifest.items) if int(it.extra.get("take", 0)) < args.takes])
    t0 = time.time()
    result = run_triage(
        data, args.models.split(","), args.out, dataset="fsdd", epochs=args.epochs, folds="logo", max_folds=args.max_folds,
        clip_seconds=1.0, grid=args.grid, overrides=overrides, cache_dir=Path(args.cache_dir or Path(args.out) / "cache"),
        train_overrides={"progress": False}, progress=False, manifest=manifest,
    )
    print(f"FSDD ({len(manifest.items)} clips, takes 0-{args.takes - 1}) leave-one-speaker-out, first {args.max_folds} fold(s); {args.epochs} epochs; dim {args.dim}; "
          f"total wall time {(time.time() - t0) / 60:.1f} min\n")
    print(triage_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
