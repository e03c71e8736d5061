"""The cross-validation protocol: folds, per-fold training with validation from the training
folds only, test-fold scoring, mean ± std over folds, report; resumable fold by fold."""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import re
import time
from pathlib import Path

import numpy as np

from audiocnn.atomic import write_json_atomic
from audiocnn.errors import failure_record
from audiocnn.audio import Windowing
from audiocnn.evaluate.predict import (
    adapt_batchnorm,
    adapt_information_maximization,
    predict_manifest,
    write_predictions,
)
from audiocnn.metrics import classification_metrics, metric_names, primary_metric, summarize_folds, tagging_metrics
from audiocnn.train.config import RECIPES, TrainConfig
from audiocnn.train.loop import build_model, fit_fold
from audiocnn.train.runlock import RunFolder

__all__ = ["auto_clip_seconds", "evaluate_checkpoint", "eval_windowing", "is_global_zero", "run_experiment", "score_models", "split_digest"]

log = logging.getLogger(__name__)



def auto_clip_seconds(durations: np.ndarray) -> float:
    """95th percentile of the file durations, rounded up to 0.25 s, clamped to [0.5, 10] s: long
    enough for nearly every sound, short enough that padding does not dominate."""
    if len(durations) == 0:
        return 1.0
    p95 = float(np.percentile(durations, 95))
    return float(min(10.0, max(0.5, math.ceil(p95 * 4 - 1e-9) / 4)))


def _fold_dirname(name: str) -> str:
    """``"fold1"`` / ``"1"`` -> ``fold_1``; ``"george"`` -> ``fold_george``."""
    name = re.sub(r"^fold[_-]?", "", str(name)) or str(name)
    return "fold_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def split_digest(manifest, train_idx, val_idx, test_idx) -> str:
    """SHA-1 of a fold's sorted training, validation and test file lists: equal digests mean two
    runs trained, selected and tested on the same files (checked by the paired comparisons)."""
    import hashlib

    h = hashlib.sha1()
    for part, idx in (("train", train_idx), ("val", val_idx), ("test", test_idx)):
        paths = sorted(str(manifest.items[int(i)].path) for i in np.asarray(idx).tolist())
        h.update(("\n".join([part, *paths]) + "\n").encode())
    return h.hexdigest()


def eval_windowing(clip_seconds: float, windows: bool | None = True, pad_short: bool = True) -> Windowing:
    """How a trained model scores a file: windows of ``clip_seconds`` every half clip (``windows``
    true or ``None``), or without overlap (``windows=False``); the last window aligned with the
    end of the file, files shorter than a clip zero-padded as in training (``pad_short``; a
    model trained with ``--batch-by-length`` scores them at their own length), probabilities
    averaged per file. Saved in the model's bundle, so ``tag`` scores files the same way."""
    return Windowing(float(clip_seconds), float(clip_seconds) / 2 if windows is not False else None, pad_short=pad_short)


def is_global_zero() -> bool:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) or 0) == 0


def run_experiment(
    data,
    config: TrainConfig,
    out_dir,
    *,
    dataset: str | None = None,
    folds=None,
    group_column: str | None = None,
    skip_bad: bool = False,
    max_folds: int | None = None,
    resume: bool = False,
    cache_dir=None,
    manifest=None,
    baselines=("mfcc_svm",),
    recipe: str = "cnn",
) -> dict:
    """Train and evaluate ``config.model`` on ``data`` with k-fold cross-validation.

    Args:
        data, dataset, group_column: as ``audiocnn.data.load_manifest`` (or pass ``manifest``).
        folds: ``None`` (predefined folds, else the data's train/test split, else 5 stratified
            folds), an int K (stratified; grouped when the data has groups), or ``"logo"``
            (leave one group out).
        skip_bad: drop unusable files (recorded in the report) instead of stopping.
        max_folds: run only the first N folds (a quick look; the summary says so).
        resume: skip folds whose ``result.json`` exists and continue an interrupted fold from
            its last Lightning checkpoint; the recipe and the data must match the interrupted
            run's (:class:`~audiocnn.train.runlock.RunFolder`: refused with the differences).
        baselines: keys of ``audiocnn.evaluate.baselines.BASELINES`` scored on the same folds
            (``metrics["baselines"]``, warned about when the model does not beat them); ``()``: none.
        recipe: ``"cnn"`` (the trained model) or ``"auto"``: per fold, choose between the trained
            CNN, MFCC + SVM and the random CNN + SVM on an inner validation split of the training
            part and score the choice on the test fold (:mod:`audiocnn.evaluate.auto_recipe`;
            ``metrics["recipe"]``; single-label data; both baselines are scored).

    The run folder is locked while the run lasts (a second run on it refuses; a lock left by a
    dead process is taken over); Ctrl-C raises ``KeyboardInterrupt`` saying what was kept.

    With ``config.val_fraction > 0`` a validation split is taken from each fold's training
    indices only (``split_train_val``); it alone drives early stopping and the choice of epoch.
    With 0 (the default) the fold trains on all its training indices and keeps the last epoch.
    The test fold is scored once, with the selected weights.

    Returns the ``metrics.json`` dict (also written to ``out_dir`` with the report).
    """
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be {' or '.join(map(repr, RECIPES))}, got {recipe!r}")
    auto = recipe == "auto"
    if auto:
        from audiocnn.evaluate.baselines import BASELINES

        baselines = BASELINES
    run_recipe = {"config": {k: v for k, v in config.to_dict().items() if k not in TrainConfig.RUNTIME_FIELDS},
                  "dataset": dataset, "folds": folds, "group_column": group_column, "skip_bad": skip_bad,
                  **({"recipe": recipe} if auto else {})}
    with RunFolder(out_dir, resume=resume, recipe=run_recipe, enabled=is_global_zero()) as run:
        from audiocnn.data import (
            AudioCache,
            BadDataError,
            load_manifest,
            make_folds,
            require_classes,
            validate_manifest,
        )

        t0 = time.time()
        out_dir = Path(out_dir)
        if manifest is None:
            manifest = load_manifest(data, dataset, group_column=group_column)
        manifest = validate_manifest(manifest, skip_bad=skip_bad)
        if not manifest.multilabel:
            require_classes(manifest)  # one class: nothing to learn
        elif auto:
            raise ValueError("--recipe auto chooses among single-label classifiers; it is not for tagging data")
        run.check_data(manifest)
        if config.adapt_im and manifest.multilabel:  # say so before training, not after the first fold
            raise ValueError("--adapt-im (information-maximisation adaptation) is for single-label classification, not tagging")
        probe = build_model(config, len(manifest.classes), tuple(manifest.classes), multilabel=bool(manifest.multilabel))
        sample_rate = probe.sample_rate
        min_samples = probe.info.min_samples
        del probe
        cache = AudioCache(sample_rate, Path(cache_dir) if cache_dir else None)
        decode_bad = cache.preload([it.path for it in manifest.items], progress=config.progress)
        if decode_bad:
            bad_paths = {str(b.path) for b in decode_bad}
            if not skip_bad:
                raise BadDataError(decode_bad)
            keep = [i for i, it in enumerate(manifest.items) if str(it.path) not in bad_paths]
            manifest = _with_bad(manifest.subset(keep), decode_bad)
        durations = np.array([len(cache.get(it.path)) / sample_rate for it in manifest.items])
        clip_seconds = float(config.clip_seconds) if config.clip_seconds else auto_clip_seconds(durations)
        if clip_seconds * sample_rate < min_samples:
            raise ValueError(f"--clip-seconds {clip_seconds} is shorter than {config.model}'s minimum input ({min_samples / sample_rate:.3f} s)")
        windowing = eval_windowing(clip_seconds, config.eval_windows, pad_short=not config.batch_by_length)

        grouped = True if (group_column or folds == "logo") else None
        fold_list = make_folds(manifest, folds, seed=config.seed, grouped=grouped)
        n_total_folds = len(fold_list)
        if max_folds:
            fold_list = fold_list[:max_folds]
        run.write_record({"config": config.to_dict(), "data": str(data), "dataset": dataset, "folds": folds, "group_column": group_column,
                          "max_folds": max_folds, "skip_bad": skip_bad, "recipe": recipe})

        results = []
        for i, (name, train_idx, test_idx) in enumerate(fold_list):
            fdir = out_dir / _fold_dirname(name)
            rfile = fdir / "result.json"
            if resume and rfile.exists():
                log.info("fold %s: finished earlier, skipping (resume)", name)
                results.append(json.loads(rfile.read_text()))
                continue
            t_fold = time.time()
            seed = config.seed + i
            tr, va = _holdout(manifest, train_idx, config.val_fraction, config, seed)
            test_set = set(np.asarray(test_idx).tolist())
            if test_set & (set(np.asarray(tr).tolist()) | set(np.asarray(va).tolist())):
                raise RuntimeError(f"fold {name}: training/validation indices overlap the test fold")
            log.info("fold %s (%d/%d): %d train, %d val, %d test", name, i + 1, len(fold_list), len(tr), len(va), len(test_idx))
            # an ensemble trains config.ensemble members on the same split with different seeds
            member_dirs = [fdir] if config.ensemble == 1 else [fdir / f"member_{j + 1}" for j in range(config.ensemble)]
            fits = [
                fit_fold(
                    manifest, tr, va, config, cache, clip_seconds, mdir, resume=resume, seed=seed + 1000 * j,
                    export_metadata={"fold": str(name)}, windowing=windowing,
                )
                for j, mdir in enumerate(member_dirs)
            ]
            fit = fits[0]
            test_m = manifest.subset(test_idx)
            inner = _auto_inner_cnn(manifest, tr, config, cache, clip_seconds, fdir / "auto_inner", seed, windowing, resume) if auto else None

            probs, metrics = score_models(
                [f.model for f in fits], test_m, cache, windowing, multilabel=manifest.multilabel,
                adapt_bn=config.adapt_bn, adapt_im=config.adapt_im,
            )
            res = {
                "fold": str(name),
                "n_train": int(len(tr)),
                "n_val": int(len(va)),
                "n_test": int(len(test_idx)),
                **metrics,
                "best_epoch": fit.best_epoch,
                "epochs_run": max((int(h["epoch"]) for h in fit.history), default=0),
                "selection": fit.selection,
                **({"stats_head_share": fit.stats_head["share"], "stats_head_C": fit.stats_head["C"],
                    "stats_head_validation": fit.stats_head["validation"]} if fit.stats_head else {}),
                **{k: v for k, v in fit.best_val.items()},
                "history": fit.history,
                "seconds": time.time() - t_fold,
                "checkpoint": str(member_dirs[0] / "best.pth"),
                **({"members": [{"checkpoint": str(d / "best.pth"), "best_epoch": f.best_epoch} for d, f in zip(member_dirs, fits)]}
                   if config.ensemble > 1 else {}),
                "split_sha1": split_digest(manifest, tr, va, test_idx),
                "test_files": [str(it.path) for it in test_m.items],
                "test_predictions": probs.argmax(1).tolist() if not manifest.multilabel else None,
                **({"auto_inner": inner} if inner else {}),
            }
            if is_global_zero():
                write_predictions(fdir / "predictions.csv", test_m, probs, multilabel=manifest.multilabel)
                write_json_atomic(rfile, res)
            results.append(res)
            key = primary_metric(manifest.multilabel)
            log.info("fold %s: %s = %.4f (best epoch %d, %.0f s)", name, key, metrics[key], fit.best_epoch, res["seconds"])

        base = metric_names(manifest.multilabel)
        keys = base
        if any(f"{base[0]}_cnn_only" in r for r in results):  # a late-fused stats_head: the CNN alone too
            keys = keys + tuple(f"{k}_cnn_only" for k in base)
        if config.adapt_bn or config.adapt_im:
            keys = keys + tuple(f"{k}_unadapted" for k in base) + (tuple(f"{k}_adabn" for k in base) if config.adapt_im else ())
        summary = summarize_folds(results, keys)
        summary["n_folds"] = len(results)
        summary["n_folds_total"] = n_total_folds
        scored = {}
        if baselines and is_global_zero():  # the same folds as the model's, one embedding per file
            from audiocnn.evaluate.baselines import score_baselines

            scored = score_baselines(manifest, cache, fold_list, baselines, seed=config.seed, clip_seconds=clip_seconds)
        metrics = {
            "summary": summary,
            "folds": [{k: v for k, v in r.items() if k not in ("history", "test_files", "test_predictions", "auto_inner")} for r in results],
            "baselines": scored,
            "config": {
                **config.to_dict(),
                "clip_seconds_used": clip_seconds,
                "sample_rate": sample_rate,
                "eval": describe_windowing(windowing),
                "windowing": windowing.to_dict(),
                "data": str(data),
                "dataset": manifest.name,
                "folds": folds,
                "group_column": group_column,
                "max_folds": max_folds,
            },
            "task": "tagging" if manifest.multilabel else "classification",
            "classes": list(manifest.classes),
            "data_summary": manifest.summary(),
            "bad_files": [{**failure_record(b.path, b.reason), "reason": b.reason} for b in manifest.bad],
            "wall_seconds": time.time() - t0,
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        }
        if auto and is_global_zero():
            metrics["recipe"] = _auto_record(manifest, cache, results, scored, config.seed, clip_seconds)
        if manifest.multilabel is False:
            cm = np.sum([np.asarray(r["confusion_matrix"]) for r in results], axis=0) if results else None
            metrics["confusion_matrix"] = cm.tolist() if cm is not None else None
        if is_global_zero():
            from audiocnn.evaluate.baselines import baseline_shortfalls
            from audiocnn.evaluate.report import write_report

            for line in baseline_shortfalls(metrics):
                log.warning(line)
            write_report(out_dir, metrics, [r.get("history", []) for r in results])
        return metrics


def _auto_inner_cnn(manifest, tr, config, cache, clip_seconds, fdir, seed, windowing, resume) -> dict:
    """The CNN of ``--recipe auto`` trained on a fold's inner training part and scored on its
    inner validation part (the indices are kept for the baselines' inner scores)."""
    from audiocnn.evaluate.auto_recipe import INNER_FRACTION
    from audiocnn.train.loop import fit_fold

    itr, iva = _holdout(manifest, tr, INNER_FRACTION, config, seed)
    if len(itr) == 0 or len(iva) == 0:
        raise ValueError(f"--recipe auto: the {len(tr)} training files cannot be split into inner training and validation parts")
    log.info("recipe auto: inner split %d train, %d val", len(itr), len(iva))
    fit = fit_fold(manifest, itr, np.zeros(0, np.int64), config, cache, clip_seconds, fdir, resume=resume, seed=seed,
                   export_metadata={"fold": "auto_inner"}, windowing=windowing)
    _, m = score_models([fit.model], manifest.subset(iva), cache, windowing, multilabel=False)
    return {"train": np.asarray(itr).tolist(), "val": np.asarray(iva).tolist(), "cnn": float(m["accuracy"])}


def _auto_record(manifest, cache, results, scored, seed, clip_seconds) -> dict:
    """``metrics["recipe"]`` of ``--recipe auto``: the baselines scored on the inner splits, the
    choice per fold and the chosen methods' test accuracy."""
    from audiocnn.evaluate.auto_recipe import chosen_text, summarize_choices
    from audiocnn.evaluate.baselines import score_baselines

    inner_folds = [(r["fold"], np.asarray(r["auto_inner"]["train"]), np.asarray(r["auto_inner"]["val"])) for r in results]
    inner_scored = score_baselines(manifest, cache, inner_folds, tuple(scored), seed=seed, clip_seconds=clip_seconds)

    def fold_scores(table: dict, i: int) -> dict:
        return {b: v["folds"][i]["accuracy"] for b, v in table.items() if "folds" in v}

    inner = [{"cnn": r["auto_inner"]["cnn"], **fold_scores(inner_scored, i)} for i, r in enumerate(results)]
    outer = [{"cnn": r["accuracy"], **fold_scores(scored, i)} for i, r in enumerate(results)]
    sizes = [(len(r["auto_inner"]["train"]), len(r["auto_inner"]["val"])) for r in results]
    record = summarize_choices([r["fold"] for r in results], inner, outer, sizes)
    if (a := record["summary"].get("accuracy")):
        log.info("recipe auto: accuracy %.4f ± %.4f over %d fold(s); chosen: %s", a["mean"], a["std"], len(results), chosen_text(record))
    return record


def _holdout(manifest, indices, fraction: float, config: TrainConfig, seed: int):
    """``split_train_val`` of ``indices`` as ``config.val_groups`` asks: whole groups held out, or
    (``False``) a random part of every group."""
    import dataclasses

    from audiocnn.data import split_train_val

    if not config.val_groups:
        manifest = dataclasses.replace(manifest, items=tuple(dataclasses.replace(it, group=None) for it in manifest.items))
    return split_train_val(manifest, indices, fraction, seed=seed)


def _with_bad(manifest, bad):
    import dataclasses

    return dataclasses.replace(manifest, bad=tuple(manifest.bad) + tuple(bad))




def describe_windowing(w: Windowing) -> str:
    hop = "half a clip" if w.hop_seconds and w.hop_seconds < w.clip_seconds else "a clip"
    return f"windows of {w.clip_seconds:g} s every {hop}, probabilities {'averaged' if w.aggregate == 'mean' else 'max-pooled'} per file"


def score_models(
    models, manifest, cache, windowing: Windowing, *, multilabel: bool, adapt_bn: bool = False, adapt_im: bool = False
):
    """``(probabilities averaged over models, metrics)`` on the labelled ``manifest``; with
    ``adapt_bn`` every model is first adapted to the manifest's unlabelled audio
    (:func:`adapt_batchnorm`) and the plain metrics are kept as ``<key>_unadapted``; ``adapt_im``
    adds :func:`adapt_information_maximization` after that, keeping the BatchNorm-only metrics
    as ``<key>_adabn``. Models with a fitted ``stats_head`` are also scored without it
    (``<key>_cnn_only``)."""
    if adapt_im and multilabel:
        raise ValueError("information-maximisation adaptation (--adapt-im) is for single-label classification, not tagging")
    keys = metric_names(multilabel)
    activation = "sigmoid" if multilabel else "softmax"

    def run(ms):
        p = np.mean([predict_manifest(m, manifest, cache, windowing, activation=activation) for m in ms], axis=0)
        return p, (tagging_metrics(manifest.targets(), p) if multilabel else classification_metrics(manifest.label_indices(), p))

    probs, metrics = run(models)
    from audiocnn.train.stats_head import has_stats_head

    fused = [m for m in models if has_stats_head(m)]
    if fused and not multilabel:  # the CNN without its late-fused statistics classifier, for the report
        shares = [float(m.head_share) for m in fused]
        for m in fused:
            m.head_share.fill_(0.0)
        cnn_only = {f"{k}_cnn_only": v for k, v in run(models)[1].items() if k in keys}
        for m, share in zip(fused, shares):
            m.head_share.fill_(share)
        metrics = {**metrics, **cnn_only}
    if adapt_bn or adapt_im:  # transductive: BatchNorm statistics of the unlabelled audio being scored
        plain = {f"{k}_unadapted": metrics[k] for k in keys}
        models = [adapt_batchnorm(m, manifest, cache, windowing) for m in models]
        probs, metrics = run(models)
        if adapt_im:  # ... then the BatchNorm affine parameters, by information maximisation
            bn_only = {f"{k}_adabn": metrics[k] for k in keys}
            probs, metrics = run([adapt_information_maximization(m, manifest, cache, windowing) for m in models])
            plain.update(bn_only)
        metrics = {**metrics, **plain}
    return probs, metrics


def evaluate_checkpoint(
    checkpoint,
    data,
    *,
    dataset: str | None = None,
    model: str | None = None,
    fold: str | None = None,
    windows: bool | None = None,
    clip_seconds: float | None = None,
    skip_bad: bool = False,
    group_column: str | None = None,
    cache_dir=None,
    out_dir=None,
    manifest=None,
    adapt_bn: bool = False,
    adapt_im: bool = False,
) -> dict:
    """Score a saved model (``fold_<k>/best.pth`` or ``fold_<k>/model/`` of a run) on labelled data.

    Everything about the model (name, labels, task, clip length, windowing) comes from its
    bundle; ``model``, ``clip_seconds`` and ``windows`` (``True``: windows every half clip,
    ``False``: without overlap) override it, with a warning. The data's labels are mapped to the
    model's by name (the class order may differ); a label the model does not know is an error
    naming it. ``fold`` restricts the data to one predefined fold. Returns the metrics
    (accuracy, macro-F1, confusion matrix; or mAP, AUC, d-prime) and, with ``out_dir``, writes
    ``metrics.json`` (and ``confusion_matrix.png``). ``adapt_bn``: score after test-time
    BatchNorm adaptation to the data's audio
    (:func:`~audiocnn.evaluate.predict.adapt_batchnorm`, transductive); the plain scores are
    kept as ``*_unadapted``. ``adapt_im``: that, then information maximisation on the BatchNorm
    affine parameters (:func:`~audiocnn.evaluate.predict.adapt_information_maximization`); the
    BatchNorm-only scores are kept as ``*_adabn``.
    """
    import dataclasses

    from audiocnn.data import AudioCache, BadDataError, check_labels, load_manifest, validate_manifest
    from audiocnn.models import load_model
    from audiocnn.models.bundle import generic_labels

    net, bundle = load_model(checkpoint, model)
    if generic_labels(bundle.labels):
        raise ValueError(f"{checkpoint}: no label list stored (not written by audiocnn train); cannot map the data's labels")
    hop = None if windows is None else (bundle.windowing.clip_seconds / 2 if windows else bundle.windowing.clip_seconds)
    bundle = bundle.with_overrides(str(checkpoint), clip_seconds=clip_seconds, hop_seconds=hop)
    labels = list(bundle.labels)
    if manifest is None:
        manifest = load_manifest(data, dataset, group_column=group_column)
    manifest = validate_manifest(manifest, skip_bad=skip_bad)
    if fold is not None:
        if not manifest.has_folds():
            raise ValueError(f"{data}: --fold {fold} given but the data has no predefined folds")
        keep = [i for i, it in enumerate(manifest.items) if str(it.fold) == str(fold)]
        if not keep:
            raise ValueError(f"{data}: no item in fold {fold!r} (folds: {', '.join(manifest.fold_ids())})")
        manifest = manifest.subset(keep)
    check_labels([lab for it in manifest.items for lab in it.labels], labels, str(data), known_name=f"the labels of {checkpoint}")
    manifest = dataclasses.replace(manifest, classes=tuple(labels))
    multilabel = bundle.multilabel
    cache = AudioCache(net.sample_rate, Path(cache_dir) if cache_dir else None)
    bad = cache.preload([it.path for it in manifest.items], progress=False)
    if bad:
        if not skip_bad:
            raise BadDataError(bad)
        paths = {str(b.path) for b in bad}
        manifest = _with_bad(manifest.subset([i for i, it in enumerate(manifest.items) if str(it.path) not in paths]), bad)
    _, metrics = score_models([net], manifest, cache, bundle.windowing, multilabel=multilabel, adapt_bn=adapt_bn, adapt_im=adapt_im)
    if adapt_bn or adapt_im:
        metrics["adapt_bn"] = True
    if adapt_im:
        metrics["adapt_im"] = True
    out = {
        **metrics,
        "n": len(manifest.items),
        "checkpoint": str(checkpoint),
        "model": bundle.model,
        "data": str(data),
        "fold": fold,
        "clip_seconds": bundle.windowing.clip_seconds,
        "eval": describe_windowing(bundle.windowing),
        "windowing": bundle.windowing.to_dict(),
        "classes": labels,
        "bad_files": [{**failure_record(b.path, b.reason), "reason": b.reason} for b in manifest.bad],
    }
    if out_dir is not None:
        out_dir = Path(out_dir)
        write_json_atomic(out_dir / "metrics.json", out)
        if not multilabel:
            from audiocnn.evaluate.report import plot_confusion_matrix

            plot_confusion_matrix(np.asarray(metrics["confusion_matrix"]), labels, out_dir / "confusion_matrix.png", title=f"{bundle.model} on {data}")
    return out
