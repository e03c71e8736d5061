"""Baselines scored beside a trained model on the same folds: MFCC statistics + SVM (cheap, on by
default in ``audiocnn train``) and a random-weight CNN + SVM (opt-in).

Each baseline embeds every file once (no statistic is shared between files), then, per outer
fold, fits ``StandardScaler + SVC`` on the fold's whole training part (the model's training and
validation indices together), with C, gamma and the kernel chosen by an inner cross-validation
on that training part only (grouped by speaker/group when the data has groups;
:func:`audiocnn.backends.estimators.nested_cv`), and predicts the fold's test indices once: the
same test files as the model's. The fold metrics are the model's (:func:`audiocnn.metrics.classification_metrics`).

- ``mfcc_svm``: 20 MFCCs + deltas + delta-deltas, mean and std over the whole file (120 values;
  :mod:`audiocnn.backends.mfcc`), at the data's most common sample rate (not the model's).
- ``random_cnn_svm``: :data:`RANDOM_CNN_FRONTEND` with random He-normal weights drawn from the
  run's seed and never trained, every feature map averaged over time (3,584 values; Pons & Serra
  2019, ``docs/random_cnn.md``), on the run's clip length (centre crop or zero padding).

Single-label classification only: for tagging data no baseline is scored (the report says so).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Sequence

import numpy as np

from audiocnn.metrics import classification_metrics, metric_names, primary_metric, summarize_folds

__all__ = [
    "BASELINES",
    "BASELINE_TITLES",
    "RANDOM_CNN_FRONTEND",
    "baseline_shortfalls",
    "parse_baselines",
    "score_baselines",
    "files_digest",
]

log = logging.getLogger(__name__)

# metrics.json keys of the baselines, in report order
BASELINES = ("mfcc_svm", "random_cnn_svm")
BASELINE_TITLES = {"mfcc_svm": "MFCC + SVM", "random_cnn_svm": "random CNN + SVM"}
# command-line names (``--baselines mfcc-svm,random-cnn``) -> keys
_CLI_NAMES = {"mfcc-svm": "mfcc_svm", "random-cnn": "random_cnn_svm"}
# the random front-end with the best SVM accuracy of the front-end study (docs/random_cnn.md)
RANDOM_CNN_FRONTEND = "pons_7x86"
# SVM grids (audiocnn.backends.estimators.make_backend): "full" = RBF C in {0.1, 1, 10, 100} x
# gamma in {0.25, 1, 4}/dim + linear C in {0.001, 0.01, 0.1}; "small" = RBF C in {1, 10, 100} at
# gamma = 1/dim + linear C = 0.01 (3,584-dim embeddings make every fit dearer)
SVM_GRIDS = {"mfcc_svm": "full", "random_cnn_svm": "small"}
INNER_FOLDS = 3


def parse_baselines(spec: str) -> tuple[str, ...]:
    """``"mfcc-svm,random-cnn"`` -> ``("mfcc_svm", "random_cnn_svm")``: the baselines to score,
    MFCC + SVM always included. Unknown names raise ``ValueError`` naming the valid ones."""
    names = [s.strip() for s in str(spec).split(",") if s.strip()]
    bad = [n for n in names if n not in _CLI_NAMES and n not in BASELINES]
    if bad:
        raise ValueError(f"--baselines: unknown baseline(s) {', '.join(bad)}; choose from {', '.join(_CLI_NAMES)}")
    chosen = {_CLI_NAMES.get(n, n) for n in names} | {"mfcc_svm"}
    return tuple(b for b in BASELINES if b in chosen)


def files_digest(paths: Sequence[str]) -> str:
    """SHA-1 of the sorted file list: equal digests mean the same test files."""
    return hashlib.sha1(("\n".join(sorted(map(str, paths))) + "\n").encode()).hexdigest()


def _features(name: str, manifest, cache, *, clip_seconds: float | None, seed: int):
    """``((n_items, dim) features, description)`` of one baseline, every file embedded alone."""
    from audiocnn.backends.random_cnn import embed_paths

    paths = [str(it.path) for it in manifest.items]
    rate = int(cache.sample_rate)
    if name == "mfcc_svm":
        from audiocnn.audio import audio_info, load_audio

        # the data's own rate, not the model's: the baseline keeps every band the files have
        # (a model's rate is one of the choices the comparison is there to judge)
        infos = [audio_info(p) for p in paths]
        native = Counter(int(i["sample_rate"]) for i in infos).most_common(1)[0][0]
        longest = max(i["duration"] for i in infos)
        if native == rate:
            load = cache.get
        else:  # one file at a time, nothing kept: memory stays that of one file

            def load(p):
                return load_audio(p, sample_rate=native)[0]

        # the whole file: no crop (longer than the longest file), no padding
        e = embed_paths(paths, "mfcc", clip_seconds=longest + 1.0, load=load, progress=False, overrides={"sample_rate": native})
        return e.X, f"20 MFCCs + deltas + delta-deltas, mean and std over each whole file ({e.dim} values) at {native} Hz"
    if name == "random_cnn_svm":
        clip = float(clip_seconds) if clip_seconds else 1.0
        e = embed_paths(paths, RANDOM_CNN_FRONTEND, seed=seed, clip_seconds=clip, load=cache.get, progress=False, overrides={"sample_rate": rate})
        return e.X, (f"{RANDOM_CNN_FRONTEND} with random weights (seed {seed}, never trained), feature maps averaged over time "
                     f"({e.dim} values), {clip:g}-s clips at {rate} Hz")
    raise ValueError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")


def score_baselines(
    manifest,
    cache,
    fold_list,
    which: Sequence[str] = ("mfcc_svm",),
    *,
    seed: int = 0,
    clip_seconds: float | None = None,
) -> dict:
    """Score the baselines ``which`` on the folds ``fold_list`` of ``manifest``.

    Args:
        manifest: the run's single-label manifest (the indices of ``fold_list`` point into it).
        cache: an :class:`~audiocnn.data.AudioCache` holding its audio (the run's).
        fold_list: ``[(name, train_idx, test_idx), ...]``, the model's folds
            (:func:`audiocnn.data.make_folds`); every index of ``train_idx`` may be used for
            fitting and tuning, the ``test_idx`` items only for the fold's score.
        which: keys of :data:`BASELINES`.
        seed: inner cross-validation shuffling and the random CNN's weights.
        clip_seconds: clip length of the random CNN (the run's).

    Returns:
        ``{key: {"title", "description", "summary", "folds", "extract_seconds", "seconds"}}``;
        ``summary`` as the model's (mean, std, min, max of each metric over folds, ``n_folds``),
        one record per fold with ``fold``, ``n_train``, ``n_test``, the metrics,
        ``best_params`` (chosen by the inner cross-validation), ``fit_seconds`` and ``test_sha1``
        (:func:`files_digest` of the fold's test files). A baseline that fails is ``{"title", "error"}``, logged, and
        does not stop the run. ``{}`` for tagging data.
    """
    from audiocnn.backends.estimators import nested_cv

    if manifest.multilabel:
        log.info("baselines are scored for single-label classification only; none for tagging data")
        return {}
    y = manifest.label_indices()
    groups = manifest.groups() if manifest.has_groups() else None
    n_classes = len(manifest.classes)
    out = {}
    for name in which:
        title = BASELINE_TITLES.get(name, name)
        t0 = time.perf_counter()
        try:
            X, description = _features(name, manifest, cache, clip_seconds=clip_seconds, seed=seed)
            extract_s = time.perf_counter() - t0
            res = nested_cv(X, y, fold_list, "svm", groups=groups, inner_folds=INNER_FOLDS, seed=seed, grid=SVM_GRIDS[name])
        except Exception as e:  # noqa: BLE001 - a baseline must not cost the trained model's run
            log.warning("baseline %s failed: %s: %s", title, type(e).__name__, e)
            out[name] = {"title": title, "error": f"{type(e).__name__}: {e}"}
            continue
        folds = []
        for (fold, _train_idx, test_idx), r in zip(fold_list, res):
            test_idx = np.asarray(test_idx)
            onehot = np.eye(n_classes)[np.asarray(r.predictions, dtype=np.int64)]
            files = [manifest.items[int(i)].path for i in test_idx]
            folds.append({
                "fold": str(fold),
                "n_train": r.n_train,
                "n_test": r.n_test,
                **classification_metrics(y[test_idx], onehot),
                "best_params": {k.removeprefix("clf__"): v for k, v in r.best_params.items()},
                "fit_seconds": r.fit_seconds,
                "test_sha1": files_digest(files),
            })
        summary = summarize_folds(folds, metric_names(False))
        summary["n_folds"] = len(folds)
        out[name] = {
            "title": title,
            "description": description + f"; StandardScaler + SVC, C/gamma/kernel by {INNER_FOLDS}-fold inner CV on the training part ({SVM_GRIDS[name]} grid)",
            "summary": summary,
            "folds": folds,
            "extract_seconds": extract_s,
            "seconds": time.perf_counter() - t0,
        }
        key = primary_metric(False)
        log.info("baseline %s: %s %.4f ± %.4f over %d fold(s)", title, key, summary[key]["mean"], summary[key]["std"], len(folds))
    return out


def baseline_shortfalls(metrics: dict) -> list[str]:
    """One plain sentence per baseline whose mean primary metric is at least the model's, from a
    ``metrics.json`` dict (``[]`` when the model beats every baseline or none was scored)."""
    baselines = metrics.get("baselines") or {}
    key = primary_metric(metrics.get("task") == "tagging")
    model = (metrics.get("summary") or {}).get(key)
    if model is None:
        return []
    name = (metrics.get("config") or {}).get("model", "the model")
    out = []
    for b in baselines.values():
        s = (b.get("summary") or {}).get(key)
        if s is None:
            continue
        if model["mean"] <= s["mean"]:
            out.append(
                f"{name} does not beat the {b['title']} baseline: {key} {model['mean']:.4f} ± {model['std']:.4f} "
                f"against {s['mean']:.4f} ± {s['std']:.4f} on the same test folds"
            )
    return out

