"""``audiocnn pack``: a corpus or manifest -> sharded, checksummed storage at the model's rate."""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["ORDER", "register", "run_pack"]

ORDER = 15

EPILOG = """examples:
  audiocnn pack --data meta.csv --out shards/ --model cnn6_lite --workers 4      # tar + FLAC at 16 kHz
  audiocnn pack --data /data/audioset --dataset audioset --out audioset_h5/ --format hdf5 \\
      --sample-rate 32000 --clip-seconds 10 --workers 8 --skip-bad                # PANNs-style HDF5
  audiocnn pack --data my_clips/ --out shards/ --codec int16 --shard-size 500     # 16-bit WAV members
  audiocnn pack --verify shards/                                                  # sizes and SHA-256
  audiocnn train --data shards/ --model cnn6_lite --out runs/stream               # streaming training

Run the same command again to resume an interrupted pack: finished shards are kept. Clips are
shuffled once and cut into shards, so every shard mixes the classes. Tar shards keep each clip
whole (<key>.flac + <key>.json with path, labels, fold, group, split); HDF5 rows are cut or
padded to --clip-seconds. OUT/index.json lists the shards with their sample counts, class
counts and SHA-256, and the files that could not be read (docs/scaling.md).
"""


def register(sub) -> None:
    from audiocnn.data import DATASETS

    p = sub.add_parser("pack", help="pack a corpus into checksummed tar or HDF5 shards for streaming training",
                       description="Decode, resample and pack labelled audio into shards (WebDataset tar or PANNs HDF5).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="CSV manifest, folder of class sub-folders, or a corpus folder")
    p.add_argument("--dataset", choices=DATASETS, default=None, help="corpus layout (default: detected from --data)")
    p.add_argument("--out", help="output folder (new or empty, or an interrupted pack of the same data)")
    p.add_argument("--format", choices=("tar", "hdf5"), default="tar", help="tar: WebDataset shards (default); hdf5: PANNs layout")
    p.add_argument("--codec", choices=("flac", "int16"), default="flac", help="tar members: FLAC (default) or 16-bit WAV")
    p.add_argument("--sample-rate", type=int, default=None, help="Hz (default: the rate of --model, else 32000)")
    p.add_argument("--model", default=None, help="registered model whose sample rate to pack at")
    p.add_argument("--shard-size", type=int, default=1000, help="clips per shard (default 1000)")
    p.add_argument("--clip-seconds", type=float, default=None, help="HDF5: row length in seconds (default 10)")
    p.add_argument("--workers", type=int, default=0, help="processes writing shards in parallel (default 0: this process)")
    p.add_argument("--skip-bad", action="store_true", help="leave unreadable files out (listed in index.json) instead of stopping")
    p.add_argument("--no-shuffle", action="store_true", help="keep the manifest order instead of shuffling clips across shards")
    p.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    p.add_argument("--verify", metavar="DIR", default=None, help="check the shards of a packed folder (size and SHA-256) and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_pack)


def _rate(args) -> int:
    if args.sample_rate:
        return args.sample_rate
    if args.model:
        from audiocnn.models import create_model

        return int(create_model(args.model, num_classes=2).sample_rate)
    return 32000


def run_pack(args) -> int:
    from audiocnn.data.shards import PackOptions, load_index, pack, verify_shards

    if args.verify:
        index = load_index(args.verify)
        problems = verify_shards(index)
        for name, why in problems:
            print(f"  {index.root / name}: {why}", file=sys.stderr)
        print(f"{args.verify}: {len(index.shards) - len(problems)} of {len(index.shards)} shard(s) intact, {index.num_samples} clips")
        return 1 if problems else 0
    if not args.data or not args.out:
        raise ValueError("--data and --out are needed (or --verify DIR)")
    from audiocnn.data import load_manifest, validate_manifest

    manifest = validate_manifest(load_manifest(args.data, args.dataset), skip_bad=args.skip_bad, check_audio=False)
    options = PackOptions(format=args.format, codec=args.codec, sample_rate=_rate(args), shard_size=args.shard_size,
                          clip_seconds=args.clip_seconds, shuffle=not args.no_shuffle, seed=args.seed)
    t0 = time.perf_counter()
    index = pack(manifest, args.out, options, num_workers=args.workers, skip_bad=args.skip_bad, progress=not args.no_progress)
    bad = list(index.bad) + [{"path": b.path, "reason": b.reason} for b in manifest.bad]
    if bad:
        print(f"{len(bad)} file(s) left out:", file=sys.stderr)
        for b in bad:
            print(f"  {b['path']}: {b['reason']}", file=sys.stderr)
    kind = f"{index.format} ({index.codec})" if index.format == "tar" else f"hdf5 ({index.clip_seconds:g}-s int16 rows)"
    print(f"packed {index.num_samples} clip(s) into {len(index.shards)} {kind} shard(s) at {index.sample_rate} Hz "
          f"in {time.perf_counter() - t0:.1f} s: {index.root / 'index.json'}")
    return 0
