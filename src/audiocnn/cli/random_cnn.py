"""``audiocnn random-cnn`` (front-end x back-end study with random weights) and ``audiocnn triage``
(random weights + SVM vs a short training run, per architecture). Thin wrappers over
:mod:`audiocnn.evaluate.random_cnn_study`."""

from __future__ import annotations

import argparse
import logging

from audiocnn.cli.argtypes import folds
from audiocnn.cli.options import add_command, add_data_flags

ORDER = 40

RANDOM_EPILOG = """examples:
  audiocnn random-cnn --data gtzan/ --dataset gtzan --preset pons --seeds 3 --out runs/rc_gtzan   # the study's settings
  audiocnn random-cnn --data ../shared/data/fsdd --dataset fsdd --folds logo --frontends all --backends svm,elm --seeds 3 --out runs/random_cnn
  audiocnn random-cnn --data meta.csv --frontends pons_timbral,mfcc --backends svm --seeds 1 --out runs/rc
  audiocnn random-cnn --data clips/ --frontends cnn10 --checkpoint runs/x/fold_1/best.ckpt --backends svm --out runs/trained_emb

writes OUT/results.csv (frontend, backend, accuracy_mean, accuracy_std, n_folds, embedding_dim,
extract_seconds, fit_seconds), OUT/results.md, OUT/results.png and OUT/folds.json. Embeddings are
cached in OUT/cache (or --cache-dir), keyed by front-end, seed, data and settings.
"""

TRIAGE_EPILOG = """examples:
  audiocnn triage --data ../shared/data/fsdd --dataset fsdd --folds logo --max-folds 2 --models pons_timbral,pons_vgg,pons_sample_level,cnn6,cnn10 --epochs 5 --out runs/triage

writes OUT/triage.csv, OUT/triage.md (with the Spearman correlation), OUT/triage.png (scatter) and
the training runs under OUT/train/<model>/.
"""


def _arch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sample-rate", type=int, default=None, help="resample to this rate (default: each model's own, 16 kHz for pons_*)")
    p.add_argument("--dim", type=int, default=None, help="target embedding size of the pons_* front-ends (default 3584)")
    p.add_argument("--n-fft", type=int, default=None, help="STFT size of the pons_* spectrogram front-ends (default 512)")
    p.add_argument("--hop-length", type=int, default=None, help="STFT hop of the pons_* spectrogram front-ends (default 256)")
    p.add_argument("--n-mels", type=int, default=None, help="mel bins of the pons_* spectrogram front-ends (default 96)")


def _overrides(args) -> dict:
    o = {k: v for k, v in {"sample_rate": args.sample_rate, "dim": args.dim, "n_fft": args.n_fft, "hop_length": args.hop_length, "n_mels": args.n_mels}.items() if v is not None}
    if args.sample_rate:
        o["f_max"] = args.sample_rate / 2
    return o


def _data_args(p: argparse.ArgumentParser) -> None:
    add_data_flags(p, data_help="CSV manifest, folder of class sub-folders, or a known corpus root",
                   dataset_help="layout of --data (default: auto)")
    p.add_argument("--group-column", default=None, help="CSV column with group ids (e.g. speaker) for grouped folds")
    p.add_argument("--folds", type=folds(logo="logo"), default=None, help="K (stratified, grouped if the data has groups) or 'logo' (leave one group out); default: the data's predefined folds, else 5")
    p.add_argument("--clip-seconds", type=float, default=None, help="clip length (default: 95th percentile of the durations)")
    p.add_argument("--skip-bad", action="store_true", help="drop unreadable/bad files (listed in the log) instead of stopping")
    p.add_argument("--cache-dir", default=None, help="embedding cache (default: OUT/cache)")
    p.add_argument("--grid", choices=("full", "small"), default="full", help="hyper-parameter grid size of the back-ends")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--out", required=True, help="output folder")


def register(subparsers) -> None:
    from audiocnn.backends.estimators import BACKENDS
    from audiocnn.train.presets import RANDOM_CNN_PRESETS

    p = add_command(subparsers, "random-cnn", help="compare CNN front-ends with random weights (SVM/ELM back-ends, nested CV)",
                    description="Embed the data with randomly weighted CNN front-ends (Pons & Serra 2019) and score "
                    "SVM/ELM back-ends with nested cross-validation (hyper-parameters tuned on training folds only).",
                    epilog=RANDOM_EPILOG)
    _data_args(p)
    p.add_argument("--frontends", default=None, help="'all' (every pons_* front-end + mfcc) or a comma list of registered models / mfcc")
    p.add_argument("--backends", default=None, help=f"comma list of {', '.join(BACKENDS)} (default: all)")
    p.add_argument("--seeds", type=int, default=3, help="random-weight draws per front-end (seeds 0..N-1)")
    p.add_argument("--checkpoint", default=None, help="use this trained model's embedding instead of random weights")
    p.add_argument("--stats", default="mean", help="pooling over time: comma list of mean,max,std")
    _arch_args(p)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--inner-folds", type=int, default=3, help="inner CV folds for the hyper-parameter search")
    p.add_argument("--preset", choices=tuple(RANDOM_CNN_PRESETS), default=None,
                   help="the settings of a study (pons: Pons & Serra 2019, 12 kHz, 96 mel bands, every front-end, "
                        "SVM and ELM; docs/presets.md); explicit flags override them")
    p.set_defaults(func=run)

    t = add_command(subparsers, "triage", help="rank architectures fast: random weights + SVM vs a short training run",
                    description="For each model: accuracy with random weights + an SVM (nested CV) and accuracy after a "
                    "short training run on the same folds; the Spearman correlation between the two tells whether "
                    "the cheap ranking predicts the trained one.",
                    epilog=TRIAGE_EPILOG)
    _data_args(t)
    t.add_argument("--models", required=True, help="comma list of registered models (at least 3 for a correlation)")
    t.add_argument("--epochs", type=int, default=5, help="epochs of the short training run")
    t.add_argument("--max-folds", type=int, default=None, help="use only the first N folds (both arms)")
    t.add_argument("--backend", choices=BACKENDS, default="svm")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--batch-size", type=int, default=32, help="training batch size")
    _arch_args(t)
    t.set_defaults(func=run_triage)


def apply_preset(args) -> None:
    """The preset's settings where no flag was given, then the defaults."""
    from audiocnn.backends.estimators import BACKENDS
    from audiocnn.train.presets import RANDOM_CNN_PRESETS

    preset = RANDOM_CNN_PRESETS.get(args.preset, {}) if args.preset else {}
    defaults = {"frontends": "all", "backends": ",".join(BACKENDS)}
    for key in ("sample_rate", "n_mels", "frontends", "backends"):
        if getattr(args, key) is None:
            setattr(args, key, preset.get(key, defaults.get(key)))


def run(args) -> int:
    from pathlib import Path

    from audiocnn.evaluate.random_cnn_study import parse_frontends, run_study, write_results
    from audiocnn.data import load_manifest

    apply_preset(args)
    frontends = parse_frontends(args.frontends)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    stats = tuple(s.strip() for s in args.stats.split(",") if s.strip())
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    overrides = _overrides(args)
    manifest = load_manifest(args.data, args.dataset, group_column=args.group_column)
    out = Path(args.out)
    rows, records, manifest = run_study(
        manifest, frontends, backends, seeds=args.seeds, folds=args.folds, checkpoint=args.checkpoint,
        clip_seconds=args.clip_seconds, stats=stats, overrides=overrides, batch_size=args.batch_size,
        cache_dir=args.cache_dir or out / "cache", inner_folds=args.inner_folds, grid=args.grid,
        skip_bad=args.skip_bad, progress=not args.no_progress,
    )
    notes = f"Data: {manifest.name} ({len(manifest.items)} files, {len(manifest.classes)} classes); seeds: {args.seeds}; stats: {', '.join(stats)}; grid: {args.grid}; overrides: {overrides or 'none'}."
    if manifest.bad:
        notes += "\n\nSkipped files:\n" + "\n".join(f"- {b.path}: {b.reason}" for b in manifest.bad)
    paths = write_results(rows, out, records=records, notes=notes)
    from audiocnn.evaluate.random_cnn_study import markdown_table

    print(markdown_table(rows))
    print(f"\nresults: {paths['csv']}  {paths['md']}  {paths['png']}")
    return 0


def run_triage(args) -> int:
    from audiocnn.evaluate.random_cnn_study import parse_frontends, run_triage as triage, triage_markdown

    models = parse_frontends(args.models)
    if "mfcc" in models:
        raise ValueError("triage needs trainable registered models; 'mfcc' is not one")
    logging.getLogger("lightning").setLevel(logging.WARNING)
    result = triage(
        args.data, models, args.out, dataset=args.dataset, epochs=args.epochs, folds=args.folds, max_folds=args.max_folds,
        clip_seconds=args.clip_seconds, group_column=args.group_column, backend=args.backend, seed=args.seed,
        skip_bad=args.skip_bad, cache_dir=args.cache_dir, grid=args.grid, train_overrides={"batch_size": args.batch_size, "progress": not args.no_progress},
        overrides=_overrides(args), progress=not args.no_progress,
    )
    print(triage_markdown(result))
    print(f"\nresults: {args.out}/triage.md  {args.out}/triage.png")
    return 0
