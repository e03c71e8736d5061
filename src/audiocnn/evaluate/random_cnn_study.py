"""The front-end x back-end study (``audiocnn random-cnn``) and architecture triage
(``audiocnn triage``): library functions, results tables and plots."""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from audiocnn.backends.estimators import BACKENDS, nested_cv
from audiocnn.backends.random_cnn import embed_paths, pons_frontends

__all__ = ["RESULT_COLUMNS", "parse_frontends", "run_study", "run_triage", "write_results"]

log = logging.getLogger(__name__)

RESULT_COLUMNS = ("frontend", "backend", "accuracy_mean", "accuracy_std", "n_folds", "embedding_dim", "extract_seconds", "fit_seconds")
# architecture arguments that only the pons_* family takes
PONS_ONLY = ("dim", "n_fft", "hop_length", "n_mels", "f_min", "f_max")


def parse_frontends(spec: str) -> list[str]:
    """``"all"`` (every ``pons_*`` front-end + the ``mfcc`` baseline) or a comma list of registered
    names / ``mfcc``; unknown names raise ``ValueError`` listing the valid ones."""
    from audiocnn.models import list_models

    if spec.strip() == "all":
        return pons_frontends() + ["mfcc"]
    names = [s.strip() for s in spec.split(",") if s.strip()]
    known = set(list_models(include_test=True)) | {"mfcc"}
    bad = [n for n in names if n not in known]
    if bad:
        raise ValueError(f"unknown front-end(s) {', '.join(bad)}; use 'all', 'mfcc' or registered models: {', '.join(pons_frontends())}, ... (see `audiocnn models`)")
    if not names:
        raise ValueError("no front-end given")
    return names


def _overrides_for(frontend: str, overrides: dict, checkpoint) -> dict:
    if checkpoint is not None:
        return {}
    if frontend == "mfcc":
        return {k: v for k, v in overrides.items() if k == "sample_rate"}
    if frontend.startswith(("pons_", "test_pons")):
        return dict(overrides)
    return {k: v for k, v in overrides.items() if k not in PONS_ONLY}


def _prepare(manifest, folds, skip_bad: bool, seed: int = 0):
    from audiocnn.data import make_folds, validate_manifest

    manifest = validate_manifest(manifest, skip_bad=skip_bad)
    if manifest.multilabel:
        raise ValueError(f"{manifest.name}: multi-label data; the SVM/ELM study needs single-label classes")
    # the same folds `audiocnn train` uses for these arguments (so triage compares like with like)
    fold_list = make_folds(manifest, folds, seed=seed, grouped=True if folds == "logo" else None)
    y = manifest.label_indices()
    groups = [it.group for it in manifest.items]
    groups = np.asarray(groups) if all(g is not None for g in groups) else None
    return manifest, fold_list, y, groups


def run_study(
    manifest,
    frontends: Sequence[str],
    backends: Sequence[str] = BACKENDS,
    *,
    seeds: int = 3,
    folds=None,
    checkpoint=None,
    clip_seconds: float | None = None,
    stats: Sequence[str] = ("mean",),
    overrides: dict | None = None,
    batch_size: int = 16,
    cache_dir=None,
    inner_folds: int = 3,
    grid: str = "full",
    skip_bad: bool = False,
    progress: bool = True,
) -> tuple[list[dict], list[dict], object]:
    """Embed ``manifest`` with every front-end and seed, then score every back-end with nested CV.

    Returns ``(rows, fold_records, manifest)``: one row per (front-end, back-end) with
    :data:`RESULT_COLUMNS`, where ``accuracy_mean`` / ``accuracy_std`` are the mean and standard
    deviation over outer folds of the fold accuracy averaged over seeds; and one record per
    (front-end, back-end, seed, fold) with the chosen hyper-parameters.
    """
    from audiocnn.evaluate.protocol import auto_clip_seconds

    for b in backends:
        if b not in BACKENDS:
            raise ValueError(f"unknown back-end {b!r}; choose from {', '.join(BACKENDS)}")
    manifest, fold_list, y, groups = _prepare(manifest, folds, skip_bad)
    paths = [str(it.path) for it in manifest.items]
    if clip_seconds is None:
        clip_seconds = auto_clip_seconds(np.array([_duration(p) for p in paths]))
        log.info("clip length %.2f s (95th percentile of the durations)", clip_seconds)
    overrides = dict(overrides or {})
    rows, records = [], []
    for fe in frontends:
        fe_seeds = [None] if (fe == "mfcc" or checkpoint is not None) else list(range(seeds))
        embs = [
            embed_paths(
                paths, fe, seed=0 if s is None else s, checkpoint=checkpoint if fe != "mfcc" else None,
                clip_seconds=clip_seconds, stats=stats, batch_size=batch_size, cache_dir=cache_dir,
                progress=progress, overrides=_overrides_for(fe, overrides, checkpoint),
            )
            for s in fe_seeds
        ]
        name = fe if checkpoint is None or fe == "mfcc" else f"{fe} (trained)"
        for b in backends:
            acc = np.zeros((len(embs), len(fold_list)))
            fit_s = 0.0
            for i, (s, e) in enumerate(zip(fe_seeds, embs)):
                res = nested_cv(e.X, y, fold_list, b, groups=groups, inner_folds=inner_folds, seed=0 if s is None else s, grid=grid)
                for j, r in enumerate(res):
                    acc[i, j] = r.accuracy
                    fit_s += r.fit_seconds
                    records.append({"frontend": name, "backend": b, "seed": s, "fold": r.fold, "accuracy": r.accuracy, "best_params": r.best_params, "n_train": r.n_train, "n_test": r.n_test})
            per_fold = acc.mean(axis=0)
            row = {
                "frontend": name,
                "backend": b,
                "accuracy_mean": float(per_fold.mean()),
                "accuracy_std": float(per_fold.std()),
                "n_folds": len(fold_list),
                "embedding_dim": embs[0].dim,
                "extract_seconds": float(sum(e.extract_seconds for e in embs)),
                "fit_seconds": float(fit_s),
            }
            log.info("%s + %s: %.4f +- %.4f", name, b, row["accuracy_mean"], row["accuracy_std"])
            rows.append(row)
    return rows, records, manifest


def _duration(path: str) -> float:
    from audiocnn.audio import audio_info

    return float(audio_info(path)["duration"])


def write_results(rows: list[dict], out_dir, *, records: list[dict] | None = None, title: str = "Random-weight CNN front-ends", notes: str = "") -> dict[str, Path]:
    """``results.csv`` (exactly :data:`RESULT_COLUMNS`), ``results.md``, ``results.png`` (bar chart
    with error bars) and, if given, ``folds.json`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "results.csv", "md": out / "results.md", "png": out / "results.png"}
    with open(paths["csv"], "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=RESULT_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in RESULT_COLUMNS})
    paths["md"].write_text(f"# {title}\n\n{notes}\n\n" + markdown_table(rows) + "\n")
    if records is not None:
        paths["folds"] = out / "folds.json"
        paths["folds"].write_text(json.dumps(records, indent=1, default=str))
    _bar_chart(rows, paths["png"], title)
    return paths


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| front-end | back-end | accuracy (mean ± std over folds) | folds | dim | extract s | fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['frontend']} | {r['backend']} | {100 * r['accuracy_mean']:.1f} ± {100 * r['accuracy_std']:.1f} % | {r['n_folds']} | "
            f"{r['embedding_dim']} | {r['extract_seconds']:.1f} | {r['fit_seconds']:.1f} |"
        )
    return "\n".join(lines)


def _bar_chart(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fes = list(dict.fromkeys(r["frontend"] for r in rows))
    bes = list(dict.fromkeys(r["backend"] for r in rows))
    width = 0.8 / max(1, len(bes))
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(fes) + 2), 4.5))
    x = np.arange(len(fes))
    for k, b in enumerate(bes):
        by = {r["frontend"]: r for r in rows if r["backend"] == b}
        m = [100 * by[f]["accuracy_mean"] if f in by else np.nan for f in fes]
        s = [100 * by[f]["accuracy_std"] if f in by else 0 for f in fes]
        ax.bar(x + (k - (len(bes) - 1) / 2) * width, m, width, yerr=s, capsize=3, label=b)
    ax.set_xticks(x, fes, rotation=30, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# triage


def run_triage(
    data,
    models: Sequence[str],
    out_dir,
    *,
    dataset: str | None = None,
    epochs: int = 5,
    folds=None,
    max_folds: int | None = None,
    clip_seconds: float | None = None,
    group_column: str | None = None,
    backend: str = "svm",
    seed: int = 0,
    skip_bad: bool = False,
    cache_dir=None,
    grid: str = "full",
    train_overrides: dict | None = None,
    overrides: dict | None = None,
    manifest=None,
    progress: bool = True,
) -> dict:
    """For each model: accuracy with random weights + ``backend`` (nested CV) and accuracy after a
    short training run (``audiocnn.evaluate.protocol.run_experiment`` for ``epochs`` epochs) on the
    same folds; then the Spearman correlation between the two and a scatter plot.

    Writes ``triage.csv``, ``triage.md``, ``triage.png`` and ``triage.json`` in ``out_dir`` and
    returns the JSON dict. ``overrides`` are architecture arguments (``sample_rate`` for every
    model; ``dim``, ``n_fft``... for ``pons_*`` only), used identically in both arms.
    """
    from scipy.stats import spearmanr

    from audiocnn.data import load_manifest
    from audiocnn.evaluate.protocol import auto_clip_seconds, run_experiment
    from audiocnn.train.config import TrainConfig

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if manifest is None:
        manifest = load_manifest(data, dataset, group_column=group_column)
    manifest, fold_list, y, groups = _prepare(manifest, folds, skip_bad, seed)
    if max_folds:
        fold_list = fold_list[:max_folds]
    if clip_seconds is None:
        clip_seconds = auto_clip_seconds(np.array([_duration(str(it.path)) for it in manifest.items]))
    paths = [str(it.path) for it in manifest.items]
    rows = []
    for name in models:
        t0 = time.perf_counter()
        kw = _overrides_for(name, dict(overrides or {}), None)
        e = embed_paths(paths, name, seed=seed, clip_seconds=clip_seconds, cache_dir=cache_dir, progress=progress, overrides=kw)
        res = nested_cv(e.X, y, fold_list, backend, groups=groups, seed=seed, grid=grid)
        random_acc = float(np.mean([r.accuracy for r in res]))
        random_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        config = TrainConfig(**{"model": name, "epochs": epochs, "clip_seconds": clip_seconds, "seed": seed, "progress": progress, "model_kwargs": kw, **(train_overrides or {})})
        metrics = run_experiment(None, config, out / "train" / name, manifest=manifest, folds=folds, max_folds=max_folds)
        trained_acc = float(metrics["summary"]["accuracy"]["mean"])
        train_s = time.perf_counter() - t0
        rows.append({"model": name, "random_accuracy": random_acc, "trained_accuracy": trained_acc, "random_seconds": random_s, "train_seconds": train_s, "embedding_dim": e.dim})
        log.info("%s: random %.4f, trained %.4f", name, random_acc, trained_acc)
        (out / "triage_partial.json").write_text(json.dumps(rows, indent=1))  # survives an interrupted run
    rho, p = (float("nan"), float("nan"))
    if len(rows) >= 3 and len({x["random_accuracy"] for x in rows}) > 1 and len({x["trained_accuracy"] for x in rows}) > 1:
        r = spearmanr([x["random_accuracy"] for x in rows], [x["trained_accuracy"] for x in rows])
        rho, p = float(r.statistic), float(r.pvalue)
    result = {"rows": rows, "spearman": rho, "overrides": dict(overrides or {}), "p_value": p, "epochs": epochs, "backend": backend, "n_folds": len(fold_list), "clip_seconds": clip_seconds, "data": manifest.name}
    (out / "triage.json").write_text(json.dumps(result, indent=1))
    with open(out / "triage.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["model"])
        w.writeheader()
        w.writerows(rows)
    (out / "triage.md").write_text(triage_markdown(result) + "\n")
    _scatter(rows, rho, out / "triage.png", f"{manifest.name}: random weights + {backend} vs {epochs} epochs of training")
    return result


def triage_markdown(result: dict) -> str:
    lines = [
        f"Random weights + {result['backend']} vs trained {result['epochs']} epochs, {result['n_folds']} fold(s), clips {result['clip_seconds']:.2f} s.",
        "",
        "| model | random + " + result["backend"] + " | trained | random s | train s |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(f"| {r['model']} | {100 * r['random_accuracy']:.1f} % | {100 * r['trained_accuracy']:.1f} % | {r['random_seconds']:.0f} | {r['train_seconds']:.0f} |")
    rho = result["spearman"]
    corr = "n/a (fewer than 3 models, or all accuracies equal)" if math.isnan(rho) else f"{rho:.3f} (p = {result['p_value']:.3f})"
    lines += ["", f"Spearman rank correlation: {corr}"]
    return "\n".join(lines)


def _scatter(rows, rho, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    xs = [100 * r["random_accuracy"] for r in rows]
    ys = [100 * r["trained_accuracy"] for r in rows]
    ax.scatter(xs, ys)
    for r, x, yv in zip(rows, xs, ys):
        ax.annotate(r["model"], (x, yv), fontsize=8, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("random weights + back-end, accuracy (%)")
    ax.set_ylabel("trained, accuracy (%)")
    ax.set_title(title + (f"\nSpearman rho = {rho:.2f}" if not math.isnan(rho) else ""), fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
