"""Front-end x back-end table of the random-weight CNN study on FSDD, speaker-independent
(leave-one-speaker-out, 6 folds), with wall times; checks the study's qualitative findings.

    nice python benchmarks/random_cnn_fsdd.py                       # the full setting (3 seeds, dim 3584, full grids)
    nice python benchmarks/random_cnn_fsdd.py --seeds 1 --dim 256 --grid small   # the reduced run in docs/random_cnn.md

Prints a markdown table (and writes results.csv/.md/.png and the embedding cache under --out).
Settings: FSDD is 8 kHz, so every front-end runs at 8 kHz; the spectrogram front-ends use
n_fft 256 / hop 128 (the study's 32 ms / 16 ms at 16 kHz) and 96 mel bins up to 4 kHz; clips are
centre-cropped / zero-padded to 1.0 s (MFCCs use the unpadded clip).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from audiocnn.backends.random_cnn import pons_frontends
from audiocnn.evaluate.random_cnn_study import markdown_table, run_study, write_results
from audiocnn.data import load_manifest
from audiocnn.testing import shared_data_dir

WAVEFORM = ("pons_sample_level", "pons_frame_level", "pons_frame_level_many")


def findings(rows: list[dict]) -> list[str]:
    """The study's three qualitative claims, checked on the best back-end per front-end."""
    best: dict[str, float] = {}
    for r in rows:
        best[r["frontend"]] = max(best.get(r["frontend"], 0.0), r["accuracy_mean"])
    out = []
    wave = {k: v for k, v in best.items() if k in WAVEFORM}
    spec = {k: v for k, v in best.items() if k.startswith("pons_") and k not in WAVEFORM}
    if wave and spec:
        bw, bs = max(wave, key=wave.get), max(spec, key=spec.get)
        ok = np.mean(list(spec.values())) > np.mean(list(wave.values()))
        out.append(
            f"spectrogram front-ends beat waveform ones: {'yes' if ok else 'no'} (mean of best accuracies "
            f"{100 * np.mean(list(spec.values())):.1f} % vs {100 * np.mean(list(wave.values())):.1f} %; best {bs} "
            f"{100 * spec[bs]:.1f} % vs best {bw} {100 * wave[bw]:.1f} %)"
        )
    if "pons_sample_level" in best and ("pons_frame_level" in best or "pons_frame_level_many" in best):
        fl = max(best.get("pons_frame_level", 0), best.get("pons_frame_level_many", 0))
        ok = best["pons_sample_level"] > fl
        out.append(f"sample-level beats frame-level: {'yes' if ok else 'no'} ({100 * best['pons_sample_level']:.1f} % vs {100 * fl:.1f} %)")
    if "mfcc" in best:
        cnn = {k: v for k, v in best.items() if k != "mfcc"}
        if cnn:
            b = max(cnn, key=cnn.get)
            ok = cnn[b] >= best["mfcc"]
            out.append(f"best random CNN + back-end at least matches MFCC + back-end: {'yes' if ok else 'no'} ({b} {100 * cnn[b]:.1f} % vs MFCC {100 * best['mfcc']:.1f} %)")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="FSDD root (default: ../shared/data/fsdd)")
    p.add_argument("--frontends", default="all", help="'all' or a comma list")
    p.add_argument("--backends", default="svm,elm")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--dim", type=int, default=3584, help="target embedding size of every pons_* front-end")
    p.add_argument("--grid", choices=("full", "small"), default="full")
    p.add_argument("--clip-seconds", type=float, default=1.0)
    p.add_argument("--takes", type=int, default=50, help="use takes 0..N-1 of each speaker and digit (FSDD has 50; fewer = a faster, still speaker-independent run)")
    p.add_argument("--out", default="runs/bench_random_cnn_fsdd")
    p.add_argument("--cache-dir", default=None, help="embedding cache (default OUT/cache; share it with benchmarks/triage.py)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    data = Path(args.data) if args.data else (shared_data_dir() or Path("../shared/data")) / "fsdd"
    if not (data / "metadata.csv").exists():
        print(f"FSDD not found at {data}", file=sys.stderr)
        return 1
    frontends = pons_frontends() + ["mfcc"] if args.frontends == "all" else args.frontends.split(",")
    manifest = load_manifest(data, "fsdd")
    manifest = manifest.subset([i for i, it in enumerate(manifest.items) if int(it.extra.get("take", 0)) < args.takes])
    overrides = {"sample_rate": 8000, "n_fft": 256, "hop_length": 128, "n_mels": 96, "f_max": 4000.0, "dim": args.dim}
    t0 = time.time()
    rows, records, manifest = run_study(
        manifest, frontends, args.backends.split(","), seeds=args.seeds, folds="logo", clip_seconds=args.clip_seconds,
        overrides=overrides, cache_dir=Path(args.cache_dir or Path(args.out) / "cache"), grid=args.grid, progress=sys.stderr.isatty(),
    )
    wall = time.time() - t0
    notes = (
        f"FSDD ({len(manifest.items)} clips, 10 digits), leave-one-speaker-out ({rows[0]['n_folds']} folds); seeds {args.seeds}; "
        f"takes 0-{args.takes - 1}; dim {args.dim}; grid {args.grid}; 8 kHz, log-mel n_fft 256 / hop 128 / 96 bins; clips {args.clip_seconds} s. "
        f"Total wall time {wall / 60:.1f} min."
    )
    found = findings(rows)
    write_results(rows, args.out, records=records, title="Random-weight CNN front-ends on FSDD (speaker-independent)", notes=notes + "\n\n" + "\n".join(f"- {f}" for f in found))
    print(notes + "\n")
    print(markdown_table(rows))
    print()
    for f in found:
        print("-", f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
