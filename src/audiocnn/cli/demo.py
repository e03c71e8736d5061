"""``audiocnn demo``: generate the built-in synthetic sound-event dataset, train a small model with
5-fold cross-validation and write the report: the whole toolkit in one command, no data needed."""

from __future__ import annotations

from pathlib import Path

from audiocnn.cli.options import add_command

ORDER = 1

EPILOG = """examples:
  audiocnn demo                       # data in runs/demo/data, report in runs/demo/report.md
  audiocnn demo --out /tmp/demo --epochs 5 --max-folds 1   # a one-minute smoke run

The dataset (10 classes: tones, chirps, click trains, noise bursts, harmonic sounds ...) is
generated deterministically; the run is the same as
  audiocnn train --data OUT/data/metadata.csv --epochs 10 --out OUT
"""

DEMO_MODEL = "cnn10_lite"  # the default of `audiocnn train` (tests/train/test_cli.py checks)
DEMO_EPOCHS = 10


def register(subparsers) -> None:
    p = add_command(subparsers, "demo", help="train and evaluate on built-in synthetic data (a few minutes on a CPU)",
                    description="Generate the synthetic sound-event dataset, run 5-fold training and evaluation, write the report.",
                    epilog=EPILOG)
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--model", default=DEMO_MODEL, help=f"default {DEMO_MODEL}")
    p.add_argument("--epochs", type=int, default=DEMO_EPOCHS, help=f"default {DEMO_EPOCHS}")
    p.add_argument("--clips-per-class", type=int, default=30, help="default 30 (10 classes, 5 folds)")
    p.add_argument("--max-folds", type=int, default=None, metavar="N", help="run only the first N folds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue an interrupted demo in --out")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run_demo(out_dir, *, model: str = DEMO_MODEL, epochs: int = DEMO_EPOCHS, clips_per_class: int = 30,
             max_folds: int | None = None, seed: int = 0, resume: bool = False, progress: bool = True) -> dict:
    """Library form of the command; returns the ``metrics.json`` dict."""
    from audiocnn.data import make_synthetic_dataset
    from audiocnn.evaluate.protocol import run_experiment
    from audiocnn.train.config import TrainConfig

    out_dir = Path(out_dir)
    csv = make_synthetic_dataset(out_dir / "data", clips_per_class=clips_per_class, seed=seed)
    config = TrainConfig(model=model, epochs=epochs, seed=seed, progress=progress)
    return run_experiment(csv, config, out_dir, max_folds=max_folds, resume=resume)


def run(args) -> int:
    from audiocnn.cli.train import set_threads
    from audiocnn.cpu import keep_freed_memory

    set_threads(args.threads)
    keep_freed_memory()
    metrics = run_demo(
        args.out, model=args.model, epochs=args.epochs, clips_per_class=args.clips_per_class,
        max_folds=args.max_folds, seed=args.seed, resume=args.resume, progress=not args.no_progress,
    )
    from audiocnn.evaluate.runner import training_summary

    for line in training_summary({"kind": "folds", "model": metrics["config"]["model"], "out": str(args.out), "result": metrics}):
        print(line)
    return 0
