"""``audiocnn train`` (k-fold training and evaluation with a report) and ``audiocnn evaluate``
(score a saved model on labelled data)."""

from __future__ import annotations

import argparse
import json
import sys

from audiocnn.cli.argtypes import float_range, folds, int_range, output_folder
from audiocnn.cli.options import add_command, add_data_flags, add_flags, flag, flag_values

ORDER = 20

TRAIN_EPILOG = """examples:
  audiocnn train --data my_clips/                       # folder of class sub-folders, all defaults
  audiocnn train --data meta.csv --folds 5 --out runs/x  # CSV (filename,label[,fold,split,...])
  audiocnn train --data /data/fsdd --dataset fsdd --folds logo --out runs/fsdd   # leave one speaker out
  audiocnn train --data /data/fsdd --dataset fsdd --folds logo --model cnn6_lite_speech --model-arg lifter=20 \\
      --lr 3e-3 --epochs 60 --speed-perturb 0.15 --val-fraction 0.1 --val-split random --adapt-im   # FSDD recipe (docs/training.md)
  audiocnn train --data ESC-50/ --dataset esc50 --model cnn14 --checkpoint Cnn14_mAP=0.431.pth --mode finetune
  audiocnn train --data meta.csv --max-folds 1 --epochs 5  # a quick look at one fold
  audiocnn train --data my_clips/ --baselines random-cnn  # random-weight CNN + SVM beside MFCC + SVM
  audiocnn train --data my_clips/ --recipe auto   # per fold: CNN, MFCC + SVM or random CNN + SVM, chosen on the training folds
  audiocnn train --data ESC-50/ --dataset esc50 --model imagenet_densenet201 --init imagenet,random \\
      --imagenet-weights densenet201-c1103571.pth --out runs/dn201   # both initialisations, same folds
  audiocnn train --data clips/ --config recipe.toml --epochs 5     # a recipe file; explicit flags win
  audiocnn train --config runs/x/run.json --out runs/x_again       # replay a run (its data and recipe)
  audiocnn train --data ESC-50/ --preset rethinking --imagenet-weights densenet201-c1103571.pth
                                                                    # a study's recipe (docs/presets.md)

Recipe files (.toml, .yaml, .json) hold TrainConfig fields by name (model = "cnn14", epochs = 40,
[model_kwargs] spec_augment = false) and may name their data (data, dataset, folds, group_column);
the order of precedence is: defaults < --preset < --config < explicit flags. run.json in OUT
records the resolved recipe. --model-arg values are typed by the model's signature (true/false,
numbers, none, comma lists); a key the model does not take is a usage error listing its arguments.

Front-end settings are model arguments. PANNs CNNs (cnn6, cnn10, cnn14 and their variants, the
compact cnn*_lite/small models): sample_rate=32000|16000|8000 (another rate with window_size,
hop_size and fmax), window_size=SAMPLES and hop_size=SAMPLES of the STFT (frames per second =
sample_rate / hop_size), n_mels=BINS, fmin=HZ, fmax=HZ, spec_augment=false. The other PANNs
families take sample_rate and spec_augment; ImageNet models take sample_rate (their three
resolutions are the study's). `--model-arg x=1` with an unknown x lists what a model takes.

Writes OUT/metrics.json, OUT/report.md, OUT/confusion_matrix.png, OUT/learning_curves.png,
OUT/fold_<k>/best.pth and OUT/fold_<k>/predictions.csv (each test file: label, prediction, class
scores). Each fold trains on all of its training folds for the whole schedule and keeps the
last epoch; with --val-fraction F (e.g. 0.1) the epoch is chosen on that share of its
training folds instead (with early stopping, --patience), never on the test fold. The baselines (MFCC + SVM unless --no-baselines) are
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
  audiocnn evaluate --dataset audioset --split eval --data AudioSet/ --checkpoint Cnn14_mAP=0.431.pth \\
      --blacklist dcase_blacklist.txt --skip-bad --out runs/cnn14_audioset_eval
  audiocnn evaluate --checkpoint runs/stream/best.pth --data shards/ --out runs/stream/eval   # packed shards, streamed

Labels are matched to the checkpoint's by name; data with labels the model does not know is an error.
A folder written by `audiocnn pack` (tar shards or HDF5) is scored by streaming, with mAP, AUC
and d-prime from score histograms (multi-label) or accuracy (single-label).

AudioSet (--dataset audioset): one split of the released segments alone (--split, default eval),
scored as the PANNs paper scores it: mAP, AUC and d-prime overall and per class. A checkpoint
without class names (an official PANNs file) is read in class_labels_indices.csv order.
--blacklist FILE skips the clips it lists (YouTube ids, one a line). --out gets metrics.json,
per_class.csv and summary.md. Clips missing from the download stop the run unless --skip-bad.
"""


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


def _data_flags(*, required: bool = True) -> tuple:
    """The options of the data beside --data/--dataset (train: None = not given, the recipe may say)."""
    return (
        flag("--group-column", default=None, help="CSV column whose values must not straddle folds (e.g. speaker)"),
        flag("--skip-bad", action="store_true", default=False if required else None, help="skip unusable files (listed in the report) instead of stopping"),
        flag("--cache-dir", default=None, help="keep decoded, resampled audio here between runs"),
    )


# the options of `audiocnn evaluate` that are keywords of evaluate_checkpoint, in --help order
EVAL_FLAGS = (
    flag("--clip-seconds", type=float_range(0, low_open=True), default=None, help="clip length (default: the model's)"),
    flag("--model", default=None, help="model name (default: from the checkpoint)"),
    flag("--fold", default=None, help="score only this predefined fold of --data"),
    flag("--windows", action="store_true", convert=lambda on: True if on else None,
         help="sliding windows averaged per file instead of a centre crop"),
    flag("--out", default=None, param="out_dir", help="write metrics.json (and confusion_matrix.png) here"),
    flag("--adapt-bn", action="store_true",
         help="re-estimate BatchNorm statistics on the (unlabelled) evaluation audio first; "
              "transductive, the plain scores are kept as *_unadapted"),
    flag("--adapt-im", action="store_true",
         help="--adapt-bn, then information maximisation on the BatchNorm scales/shifts (see train --help)"),
)


def _add_data_args(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    add_data_flags(p, required=required, data_help="CSV manifest, folder of class sub-folders, or a corpus folder"
                   + ("" if required else " (default: the data named by --config)"))
    add_flags(p, _data_flags(required=required))


def register(subparsers) -> None:
    from audiocnn.cli.config_flags import add_config_flags
    from audiocnn.train.config import RECIPES, TrainConfig
    from audiocnn.train.presets import preset_names

    p = add_command(subparsers, "train", help="train and evaluate a model with k-fold cross-validation; writes a report",
                    description="Train any registered model on labelled audio with an honest k-fold protocol and write a report.",
                    epilog=TRAIN_EPILOG)
    _add_data_args(p, required=False)
    p.add_argument("--out", type=output_folder, default="runs/train", help="output folder (default runs/train)")
    p.add_argument("--config", default=None, metavar="RECIPE",
                   help="recipe file (.toml, .yaml, .json) whose settings are the defaults of this run; explicit flags "
                        "override them. A run's run.json replays that run (its data too, unless --data is given)")
    p.add_argument("--preset", choices=preset_names(), default=None,
                   help="every hyper-parameter of a study (docs/presets.md); --config and explicit flags override it")
    p.add_argument("--folds", type=folds(logo="logo", predefined=None, auto=None), default=None, metavar="K|logo|predefined",
                   help="K stratified folds (grouped when the data has groups), 'logo' = leave one group out; "
                        "default: the data's predefined folds, else its train/test split, else 5")
    p.add_argument("--max-folds", type=int_range(1), default=None, metavar="N", help="run only the first N folds (quick look)")
    p.add_argument("--init", type=_inits, default=None, metavar="imagenet|random|imagenet,random",
                   help="ImageNet models: initial weights; 'imagenet,random' trains both on the same folds and compares them")
    p.add_argument("--imagenet-weights", default=None, help="ImageNet models: torchvision weight file")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--threads", type=int_range(1), default=None,
                   help="torch CPU threads (default: torch's; on a CPU shared with other jobs, 1 is often much faster)")
    p.add_argument("--baselines", type=_baselines, default=None, metavar="mfcc-svm[,random-cnn]",
                   help="baselines scored on the same folds and shown beside the model: MFCC + SVM always (cheap); "
                        "random-cnn adds a random-weight CNN + SVM (one embedding pass over the data)")
    p.add_argument("--no-baselines", action="store_true", help="score no baseline")
    p.add_argument("--recipe", choices=RECIPES, default=None,
                   help="cnn (default): the trained model; auto: per fold, choose the trained CNN, MFCC + SVM or the "
                        "random CNN + SVM on an inner validation split of the training folds and score the choice on the "
                        "test fold (trains the CNN twice per fold; single-label data; docs/training.md)")
    add_config_flags(p.add_argument_group("training recipe (TrainConfig; defaults shown, --preset and --config change them)"), TrainConfig)
    from audiocnn.cli.stream_train import add_arguments as add_stream_arguments

    add_stream_arguments(p)
    p.set_defaults(func=run_train)

    e = add_command(subparsers, "evaluate", help="score a saved model on labelled audio",
                    description="Score a checkpoint written by `audiocnn train` (or any checkpoint with --model and --labels) on labelled data.",
                    epilog=EVAL_EPILOG)
    e.add_argument("--checkpoint", required=True, help="fold_<k>/best.pth of a training run")
    _add_data_args(e)
    add_flags(e, EVAL_FLAGS)
    e.add_argument("--split", default=None, metavar="NAME",
                   help="AudioSet: the released split to score alone: eval (default), balanced_train or unbalanced_train")
    e.add_argument("--blacklist", default=None, metavar="FILE", help="AudioSet: clips to skip (YouTube ids or clip names, one a line)")
    e.set_defaults(func=run_evaluate)


def config_from_args(args) -> TrainConfig:  # noqa: F821 - imported lazily
    """The run's configuration: defaults < --preset < --config < explicit flags."""
    from audiocnn.cli.config_flags import given_values
    from audiocnn.train.config import TrainConfig
    from audiocnn.train.recipe import resolve_config

    values = given_values(args, TrainConfig, exclude=("model_kwargs",))
    typed = {}
    if args.init is not None and len(args.init) == 1:  # several: one run per arm (compare_inits)
        typed["init"] = args.init[0]
    if args.imagenet_weights is not None:
        typed["imagenet_weights"] = args.imagenet_weights
    return resolve_config(values, model_args=args.model_kwargs, preset=args.preset, recipe=_recipe(args), model_kwargs=typed)


def _recipe(args):
    if args.config is None:
        return None
    if getattr(args, "_recipe", None) is None:
        from audiocnn.train.recipe import read_recipe

        args._recipe = read_recipe(args.config)
    return args._recipe


def _run_setting(args, name: str):
    """A data/fold setting: the flag when given, else the recipe's (a replayed run.json)."""
    value = getattr(args, name)
    recipe = _recipe(args)
    return recipe.run.get(name) if value is None and recipe is not None else value


def run_train(args) -> int:
    from audiocnn.cli.stream_train import stream_options
    from audiocnn.errors import UsageError
    from audiocnn.evaluate.runner import run_training, training_summary

    config = config_from_args(args)
    data = _run_setting(args, "data")
    if data is None:
        raise UsageError("--data is required (or a --config run.json that names its data)")
    if args.no_baselines and args.baselines:
        raise UsageError("--no-baselines and --baselines contradict each other; give one")
    recipe = _run_setting(args, "recipe") or "cnn"
    if recipe == "auto" and args.no_baselines:
        raise UsageError("--recipe auto chooses between the model and the baselines; drop --no-baselines")
    for line in validation_warnings(args, config):
        print(f"warning: {line}", file=sys.stderr)
    from audiocnn.cpu import keep_freed_memory

    keep_freed_memory()  # run_training sets --threads
    run = run_training(
        data, config, args.out, inits=args.init, stream_options=stream_options(args), threads=args.threads,
        dataset=_run_setting(args, "dataset"), folds=_run_setting(args, "folds"),
        group_column=_run_setting(args, "group_column"), skip_bad=bool(_run_setting(args, "skip_bad")),
        max_folds=_run_setting(args, "max_folds"), resume=args.resume, cache_dir=args.cache_dir,
        baselines=() if args.no_baselines else (args.baselines or ("mfcc_svm",)), recipe=recipe,
    )
    for line in training_summary(run):
        print(line)
    return 0


def validation_warnings(args, config) -> list[str]:
    """Flags given on the command line that act on a validation split the run does not hold out."""
    from audiocnn.cli.config_flags import given_values
    from audiocnn.train.config import TrainConfig

    if config.val_fraction > 0 or getattr(args, "val_data", None):
        return []
    given = given_values(args, TrainConfig, exclude=("model_kwargs",))
    flags = [flag for name, flag in (("patience", "--patience"), ("val_groups", "--val-split")) if name in given]
    if not flags:
        return []
    return [f"{' and '.join(flags)} act on a validation split, and --val-fraction is 0 (the default: each fold trains "
            "on all of its training folds and keeps the last epoch); they only apply to data with `val` rows in a split "
            "column. Add --val-fraction 0.1 to hold out 10 % of the training folds."]


def set_threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


def _is_audioset(args) -> bool:
    if args.dataset is not None:
        return args.dataset == "audioset"
    from pathlib import Path

    from audiocnn.data.corpora import detect_corpus

    try:
        return detect_corpus(Path(args.data)) == "audioset"
    except (OSError, ValueError):
        return False


def run_audioset_evaluate(args) -> int:
    from audiocnn.evaluate.audioset import evaluate_audioset

    result = evaluate_audioset(args.checkpoint, args.data, split=args.split or "eval", blacklist=args.blacklist,
                               model=args.model, skip_bad=args.skip_bad, cache_dir=args.cache_dir, out_dir=args.out)
    show = {k: result[k] for k in ("split", "clips", "blacklisted", "mAP", "auc", "d_prime")}
    print(json.dumps({**show, "skipped": len(result["bad_files"])}, indent=1))
    if args.out:
        print(f"metrics: {args.out}/metrics.json, {args.out}/per_class.csv, {args.out}/summary.md")
    else:
        print("metrics: on stdout (--out DIR writes metrics.json, per_class.csv and summary.md)", file=sys.stderr)
    return 0


def run_evaluate(args) -> int:
    from audiocnn.errors import UsageError
    from audiocnn.evaluate.protocol import evaluate_checkpoint

    from audiocnn.data.shards import is_packed

    if is_packed(args.data):  # a folder written by `audiocnn pack`: scored by streaming
        from audiocnn.cli.packed_evaluate import run_packed_evaluate

        return run_packed_evaluate(args)
    if _is_audioset(args):
        return run_audioset_evaluate(args)
    if args.split is not None or args.blacklist is not None:
        raise UsageError("--split and --blacklist are for AudioSet data (--dataset audioset)")

    metrics = evaluate_checkpoint(args.checkpoint, args.data, dataset=args.dataset,
                                  **flag_values(args, _data_flags() + EVAL_FLAGS))
    show = {k: v for k, v in metrics.items() if k not in ("confusion_matrix", "classes", "bad_files")}
    print(json.dumps(show, indent=1))
    if args.out:
        print(f"metrics: {args.out}/metrics.json")
    else:
        print("metrics: on stdout (--out DIR writes metrics.json)", file=sys.stderr)
    return 0
