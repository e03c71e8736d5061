"""``audiocnn train`` (k-fold training and evaluation with a report) and ``audiocnn evaluate``
(score a saved model on labelled data)."""

from __future__ import annotations

import argparse
import ast
import json

from audiocnn.cli.argtypes import float_range, int_range, output_folder

ORDER = 20

TRAIN_EPILOG = """examples:
  audiocnn train --data my_clips/                       # folder of class sub-folders, all defaults
  audiocnn train --data meta.csv --folds 5 --out runs/x  # CSV (filename,label[,fold,split,...])
  audiocnn train --data /data/fsdd --dataset fsdd --folds logo --out runs/fsdd   # leave one speaker out
  audiocnn train --data /data/fsdd --dataset fsdd --folds logo --model cnn6_lite_speech --model-arg lifter=20 \\
      --lr 3e-3 --epochs 60 --speed-perturb 0.15 --val-split random --adapt-im   # FSDD recipe (docs/training.md)
  audiocnn train --data ESC-50/ --dataset esc50 --model cnn14 --checkpoint Cnn14_mAP=0.431.pth --mode finetune
  audiocnn train --data meta.csv --max-folds 1 --epochs 5  # a quick look at one fold
  audiocnn train --data my_clips/ --baselines random-cnn  # random-weight CNN + SVM beside MFCC + SVM
  audiocnn train --data ESC-50/ --dataset esc50 --model imagenet_densenet201 --init imagenet,random \\
      --imagenet-weights densenet201-c1103571.pth --out runs/dn201   # both initialisations, same folds

Writes OUT/metrics.json, OUT/report.md, OUT/confusion_matrix.png, OUT/learning_curves.png and
OUT/fold_<k>/best.pth. The epoch kept for each fold is chosen on a validation split of its
training folds, never on the test fold. The baselines (MFCC + SVM unless --no-baselines) are
scored on the same test folds, tuned on the training folds only; a model that does not beat
one gets a warning. With --init imagenet,random each arm is a full run in
OUT/init_imagenet and OUT/init_random (same folds, validation splits and seeds), and
OUT/comparison.md, OUT/comparison.json and OUT/comparison.png compare them fold by fold.

OUT is locked while the run lasts (OUT/.audiocnn.lock: a second run on it refuses). --resume
continues a killed or interrupted run where it stopped, with the same result as an uninterrupted
one; it refuses, listing the differences, when the options or the data changed. Skipped files
(--skip-bad) are listed in metrics.json as {path, error: {type, message}}. Exit codes: 0 done;
1 the run could not start or go on (data, folder in use, output); 2 usage; 130 interrupted (the
message says what was kept). docs/reliability.md.
"""

EVAL_EPILOG = """examples:
  audiocnn evaluate --checkpoint runs/x/fold_1/best.pth --data held_out.csv
  audiocnn evaluate --checkpoint runs/x/fold_1/best.pth --data meta.csv --fold 1 --out runs/x/eval_fold1
  audiocnn evaluate --checkpoint runs/x/fold_1/best.pth --data new_mic/ --adapt-bn   # adapt to the new audio first

Labels are matched to the checkpoint's by name; data with labels the model does not know is an error.
"""


def _folds(value: str):
    if value in ("logo", "predefined", "auto"):
        return None if value in ("predefined", "auto") else "logo"
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--folds takes an integer K, 'logo' or 'predefined', got {value!r}") from None
    if k < 2:
        raise argparse.ArgumentTypeError(f"--folds K needs K >= 2, got {k}")
    return k


def _baselines(value: str) -> tuple[str, ...]:
    from audiocnn.evaluate.baselines import parse_baselines

    try:
        return parse_baselines(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _inits(value: str) -> tuple[str, ...]:
    arms = tuple(v.strip() for v in value.split(","))
    bad = [a for a in arms if a not in ("imagenet", "random")]
    if bad or len(set(arms)) != len(arms):
        raise argparse.ArgumentTypeError(f"--init takes imagenet, random, or both as 'imagenet,random', got {value!r}")
    return arms


def _add_data_args(p: argparse.ArgumentParser) -> None:
    from audiocnn.data import DATASETS

    p.add_argument("--data", required=True, help="CSV manifest, folder of class sub-folders, or a corpus folder")
    p.add_argument("--dataset", choices=DATASETS, default=None, help="corpus layout (default: detected from --data)")
    p.add_argument("--group-column", default=None, help="CSV column whose values must not straddle folds (e.g. speaker)")
    p.add_argument("--skip-bad", action="store_true", help="skip unusable files (listed in the report) instead of stopping")
    p.add_argument("--cache-dir", default=None, help="keep decoded, resampled audio here between runs")
    p.add_argument("--clip-seconds", type=float_range(0, low_open=True), default=None, help="clip length (default: 95th percentile of file durations)")


def register(subparsers) -> None:
    from audiocnn.train.config import TrainConfig

    d = TrainConfig()
    p = subparsers.add_parser(
        "train",
        help="train and evaluate a model with k-fold cross-validation; writes a report",
        description="Train any registered model on labelled audio with an honest k-fold protocol and write a report.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_args(p)
    p.add_argument("--model", default=d.model, help=f"registered model (`audiocnn models`; default {d.model})")
    p.add_argument("--out", type=output_folder, default="runs/train", help="output folder (default runs/train)")
    p.add_argument("--folds", type=_folds, default=None, metavar="K|logo|predefined",
                   help="K stratified folds (grouped when the data has groups), 'logo' = leave one group out; "
                        "default: the data's predefined folds, else its train/test split, else 5")
    p.add_argument("--max-folds", type=int_range(1), default=None, metavar="N", help="run only the first N folds (quick look)")
    p.add_argument("--epochs", type=int_range(1), default=d.epochs, help=f"maximum epochs per fold (default {d.epochs})")
    p.add_argument("--batch-size", type=int_range(1), default=d.batch_size, help=f"default {d.batch_size}")
    p.add_argument("--lr", type=float_range(0, low_open=True), default=None,
                   help="peak learning rate (default 3e-3 from scratch, 1e-4 with --mode finetune, 1e-3 linear)")
    p.add_argument("--weight-decay", type=float_range(0), default=d.weight_decay, help=f"default {d.weight_decay}")
    p.add_argument("--optimizer", choices=("adamw", "adam"), default=d.optimizer)
    p.add_argument("--schedule", choices=("cosine", "step", "constant"), default=d.schedule, help="after the warm-up")
    p.add_argument("--warmup-epochs", type=float_range(0), default=d.warmup_epochs)
    p.add_argument("--mixup", type=float_range(0), default=d.mixup, metavar="ALPHA", help="mixup alpha on waveforms (0 = off)")
    p.add_argument("--speed-perturb", type=float_range(0, 1, high_open=True), default=d.speed_perturb, metavar="FRACTION",
                   help="random speed change of training clips by up to this fraction, e.g. 0.1 (0 = off)")
    p.add_argument("--label-smoothing", type=float_range(0, 1, high_open=True), default=d.label_smoothing)
    p.add_argument("--ema", type=float_range(0, 1, high_open=True), default=d.ema, metavar="DECAY",
                   help="exponential moving average of the weights, e.g. 0.995 (0 = off); "
                        "validation, model selection and the test use the average")
    p.add_argument("--balanced", action="store_true", help="PANNs balanced sampler (each class equally often)")
    p.add_argument("--val-fraction", type=float_range(0, 1, high_open=True), default=d.val_fraction, help="validation share of the training folds")
    p.add_argument("--val-split", choices=("groups", "random"), default="groups",
                   help="with groups (speakers...): hold out whole training groups for validation (default), "
                        "or a random part of every training group (trains on all training groups)")
    p.add_argument("--patience", type=int_range(0), default=d.patience, help="early-stopping patience in epochs (0 = off)")
    p.add_argument("--checkpoint", default=None, help="start from these weights (official PANNs file or ours)")
    p.add_argument("--mode", choices=("scratch", "finetune", "linear"), default=None,
                   help="transfer mode; linear = frozen backbone (default: finetune with --checkpoint, else scratch)")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="architecture argument for create_model, repeatable (e.g. --model-arg fc_dropout=0.2)")
    p.add_argument("--init", type=_inits, default=None, metavar="imagenet|random|imagenet,random",
                   help="ImageNet models: initial weights; 'imagenet,random' trains both on the same folds and compares them")
    p.add_argument("--imagenet-weights", default=None, help="ImageNet models: torchvision weight file")
    p.add_argument("--eval-windows", choices=("auto", "yes", "no"), default="auto",
                   help="score test files with sliding windows averaged per file (auto: when files are longer than a clip)")
    p.add_argument("--adapt-bn", action="store_true",
                   help="also re-estimate BatchNorm statistics on each test fold's unlabelled audio before "
                        "scoring it (transductive test-time adaptation; plain scores kept as *_unadapted)")
    p.add_argument("--adapt-im", action="store_true",
                   help="--adapt-bn, then also train the BatchNorm scales/shifts on each test fold's unlabelled audio by "
                        "information maximisation (confident predictions, classes used evenly; SHOT objective). "
                        "Transductive; assumes the test audio covers the classes roughly evenly; single-label only. "
                        "BatchNorm-only scores kept as *_adabn")
    p.add_argument("--ensemble", type=int_range(1), default=d.ensemble, metavar="N",
                   help="train N models per fold (different seeds) and average their probabilities")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--devices", default="1", help="Lightning devices (e.g. 2, or 'auto')")
    p.add_argument("--accelerator", default="cpu", help="Lightning accelerator (cpu, gpu, auto)")
    p.add_argument("--strategy", default="auto", help="Lightning strategy (e.g. ddp)")
    p.add_argument("--precision", default=d.precision, help="Lightning precision (32-true, bf16-mixed, 16-mixed)")
    p.add_argument("--num-workers", type=int_range(0), default=0, help="data loader workers")
    p.add_argument("--threads", type=int_range(1), default=None,
                   help="torch CPU threads (default: torch's; on a CPU shared with other jobs, 1 is often much faster)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--baselines", type=_baselines, default=None, metavar="mfcc-svm[,random-cnn]",
                   help="baselines scored on the same folds and shown beside the model: MFCC + SVM always (cheap); "
                        "random-cnn adds a random-weight CNN + SVM (one embedding pass over the data)")
    p.add_argument("--no-baselines", action="store_true", help="score no baseline")
    from audiocnn.cli.stream_train import add_arguments as add_stream_arguments

    add_stream_arguments(p)
    p.set_defaults(func=run_train)

    e = subparsers.add_parser(
        "evaluate",
        help="score a saved model on labelled audio",
        description="Score a checkpoint written by `audiocnn train` (or any checkpoint with --model and --labels) on labelled data.",
        epilog=EVAL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("--checkpoint", required=True, help="fold_<k>/best.pth of a training run")
    _add_data_args(e)
    e.add_argument("--model", default=None, help="model name (default: from the checkpoint)")
    e.add_argument("--fold", default=None, help="score only this predefined fold of --data")
    e.add_argument("--windows", action="store_true", help="sliding windows averaged per file instead of a centre crop")
    e.add_argument("--out", default=None, help="write metrics.json (and confusion_matrix.png) here")
    e.add_argument("--adapt-bn", action="store_true",
                   help="re-estimate BatchNorm statistics on the (unlabelled) evaluation audio first; "
                        "transductive, the plain scores are kept as *_unadapted")
    e.add_argument("--adapt-im", action="store_true",
                   help="--adapt-bn, then information maximisation on the BatchNorm scales/shifts (see train --help)")
    e.set_defaults(func=run_evaluate)


def _devices(v: str):
    return int(v) if v.isdigit() else v


def config_from_args(args) -> TrainConfig:  # noqa: F821 - imported lazily
    from audiocnn.train.config import TrainConfig

    model_kwargs = {}
    for kv in args.model_arg:
        key, sep, value = kv.partition("=")
        if not sep or not key:
            raise ValueError(f"--model-arg takes KEY=VALUE, got {kv!r}")
        try:
            model_kwargs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            model_kwargs[key] = value  # a plain string
    if args.init is not None and len(args.init) == 1:  # several: one run per arm (compare_inits)
        model_kwargs["init"] = args.init[0]
    if args.imagenet_weights is not None:
        model_kwargs["imagenet_weights"] = args.imagenet_weights
    return TrainConfig(
        model=args.model,
        model_kwargs=model_kwargs,
        clip_seconds=args.clip_seconds,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        optimizer=args.optimizer,
        schedule=args.schedule,
        warmup_epochs=args.warmup_epochs,
        mixup=args.mixup,
        speed_perturb=args.speed_perturb,
        label_smoothing=args.label_smoothing,
        ema=args.ema,
        balanced=args.balanced,
        val_fraction=args.val_fraction,
        val_groups=args.val_split == "groups",
        patience=args.patience,
        checkpoint=args.checkpoint,
        mode=args.mode,
        eval_windows={"auto": None, "yes": True, "no": False}[args.eval_windows],
        adapt_bn=args.adapt_bn,
        adapt_im=args.adapt_im,
        ensemble=args.ensemble,
        seed=args.seed,
        accelerator=args.accelerator,
        devices=_devices(str(args.devices)),
        strategy=args.strategy,
        precision=args.precision,
        num_workers=args.num_workers,
        progress=not args.no_progress,
    )


def set_threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


def run_train(args) -> int:
    from audiocnn.evaluate.protocol import run_experiment

    set_threads(args.threads)
    config = config_from_args(args)
    _check_init_args(args)
    from audiocnn.data.shards import is_packed

    if is_packed(args.data):  # a folder written by `audiocnn pack`: streaming training
        from audiocnn.cli.stream_train import run_stream_train

        return run_stream_train(args, config)
    run_kwargs = dict(
        dataset=args.dataset,
        folds=args.folds,
        group_column=args.group_column,
        skip_bad=args.skip_bad,
        max_folds=args.max_folds,
        resume=args.resume,
        cache_dir=args.cache_dir,
        baselines=_chosen_baselines(args),
    )
    if args.init is not None and len(args.init) > 1:
        return _run_init_comparison(args, config, run_kwargs)
    metrics = run_experiment(args.data, config, args.out, **run_kwargs)
    from audiocnn.evaluate.protocol import is_global_zero

    if not is_global_zero():  # DDP: the other ranks ran the same protocol silently
        return 0
    s = metrics["summary"]
    from audiocnn.metrics import metric_names

    keys = metric_names(metrics["task"] == "tagging")
    line = ", ".join(f"{k} {s[k]['mean']:.4f} ± {s[k]['std']:.4f}" for k in keys if k in s)
    k, kb = f"{keys[0]}_unadapted", f"{keys[0]}_adabn"
    if kb in s:
        line += (f" with test-time adaptation by information maximisation ({keys[0]} {s[kb]['mean']:.4f} ± {s[kb]['std']:.4f} "
                 f"with BatchNorm statistics only, {s[k]['mean']:.4f} ± {s[k]['std']:.4f} without adaptation)")
    elif k in s:
        line += f" with test-time BatchNorm adaptation ({keys[0]} {s[k]['mean']:.4f} ± {s[k]['std']:.4f} without)"
    print(f"{config.model}: {line} over {s['n_folds']} fold(s) in {metrics['wall_seconds']:.0f} s")
    _print_baselines(metrics, keys[0])
    print(f"report: {args.out}/report.md")
    return 0


def _chosen_baselines(args) -> tuple[str, ...]:
    if args.no_baselines and args.baselines:
        from audiocnn.errors import UsageError

        raise UsageError("--no-baselines and --baselines contradict each other; give one")
    return () if args.no_baselines else (args.baselines or ("mfcc_svm",))


def _print_baselines(metrics: dict, key: str) -> None:
    from audiocnn.evaluate.baselines import baseline_shortfalls

    for b in (metrics.get("baselines") or {}).values():
        bs = (b.get("summary") or {}).get(key)
        print(f"  baseline {b['title']}: " + (f"{key} {bs['mean']:.4f} ± {bs['std']:.4f} on the same folds" if bs else f"failed ({b.get('error')})"))
    for w in baseline_shortfalls(metrics):
        print(f"warning: {w}")


def _check_init_args(args) -> None:
    """--init / --imagenet-weights only mean something for the ImageNet models: say so up front."""
    if args.init is None and args.imagenet_weights is None:
        return
    from audiocnn.models import get_model_builder, model_family

    get_model_builder(args.model)  # an unknown name gets the registry's error
    if model_family(args.model) != "imagenet":
        from audiocnn.evaluate.compare import imagenet_models

        flag = "--init" if args.init is not None else "--imagenet-weights"
        raise ValueError(
            f"{flag} chooses the initial weights of the ImageNet models ({imagenet_models()}); "
            f"{args.model} has no such choice (for pretrained PANNs weights use --checkpoint)"
        )


def _run_init_comparison(args, config, run_kwargs) -> int:
    from audiocnn.evaluate.compare import compare_inits
    from audiocnn.evaluate.protocol import is_global_zero

    c = compare_inits(args.data, config, args.out, inits=args.init, **run_kwargs)
    if not is_global_zero():
        return 0
    k = c["primary"]
    s = c["summary"][k]
    a, b = c["arms"]
    print(
        f"{config.model} {k} over {c['n_folds']} fold(s): {a} {s[a]['mean']:.4f} ± {s[a]['std']:.4f}, "
        f"{b} {s[b]['mean']:.4f} ± {s[b]['std']:.4f}; {a} − {b} {s['difference']['mean']:+.4f} "
        f"({a} better on {s['wins'][a]}, {b} on {s['wins'][b]})"
    )
    print(f"report: {args.out}/comparison.md")
    return 0


def run_evaluate(args) -> int:
    from audiocnn.evaluate.protocol import evaluate_checkpoint

    metrics = evaluate_checkpoint(
        args.checkpoint,
        args.data,
        dataset=args.dataset,
        model=args.model,
        fold=args.fold,
        windows=True if args.windows else None,
        clip_seconds=args.clip_seconds,
        skip_bad=args.skip_bad,
        group_column=args.group_column,
        cache_dir=args.cache_dir,
        out_dir=args.out,
        adapt_bn=args.adapt_bn,
        adapt_im=args.adapt_im,
    )
    show = {k: v for k, v in metrics.items() if k not in ("confusion_matrix", "classes", "bad_files")}
    print(json.dumps(show, indent=1))
    if args.out:
        print(f"metrics: {args.out}/metrics.json")
    return 0
