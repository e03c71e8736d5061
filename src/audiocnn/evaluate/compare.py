"""Paired comparison of two training runs on the same folds: the study's ImageNet-vs-random
initialisation experiment (``audiocnn train --init imagenet,random``), or any two runs.

``compare_inits`` trains one arm per initialisation with :func:`~audiocnn.evaluate.protocol.run_experiment`
into ``OUT/init_<arm>`` (same configuration, data, folds, validation splits and seeds; only the
initial weights differ), then ``compare_runs`` reads the arms' ``metrics.json`` back and
``write_comparison`` writes ``OUT/comparison.{md,json,png}``: per-fold scores of both arms and
their paired difference, mean ± std, wins per arm, and paired tests.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from pathlib import Path

import numpy as np

from audiocnn.atomic import write_json_atomic, write_text_atomic
from audiocnn.metrics import metric_names
from audiocnn.train.config import TrainConfig

__all__ = ["INITS", "compare_inits", "imagenet_models", "compare_runs", "init_arm_configs", "plot_comparison", "write_comparison"]

log = logging.getLogger(__name__)

INITS = ("imagenet", "random")
_KEYS = {"classification": metric_names(False), "tagging": metric_names(True)}


def imagenet_models() -> str:
    from audiocnn.models import list_models, model_family

    return ", ".join(n for n in list_models(include_test=True) if model_family(n) == "imagenet")


def init_arm_configs(config: TrainConfig, inits=INITS, imagenet_weights=None) -> dict[str, TrainConfig]:
    """One configuration per initialisation, identical except for ``model_kwargs`` ``init`` (and
    ``imagenet_weights`` for the ImageNet arm). Raises ``ValueError`` for anything that would make
    the comparison fail late or mean something else (checked before any training)."""
    from audiocnn.models import get_model_builder, model_family

    inits = tuple(inits)
    if sorted(inits) != sorted(INITS):
        raise ValueError(f"an initialisation comparison takes the arms {' and '.join(INITS)} (in either order), got {','.join(inits)}")
    get_model_builder(config.model)  # unknown name: the registry's error
    if model_family(config.model) != "imagenet":
        raise ValueError(
            f"--init chooses the initial weights of the ImageNet models ({imagenet_models()}); "
            f"{config.model} has no such choice (for pretrained PANNs weights use --checkpoint)"
        )
    kwargs = dict(config.model_kwargs)
    if "init" in kwargs:
        raise ValueError(f"model_kwargs has init={kwargs['init']!r}: the arms' initialisations are given by inits={inits}")
    weights = imagenet_weights or kwargs.pop("imagenet_weights", None)
    kwargs.pop("imagenet_weights", None)
    if not weights:
        raise ValueError(
            f"--init {','.join(inits)}: the imagenet arm needs torchvision's ImageNet weight file for {config.model} "
            "(--imagenet-weights FILE, e.g. densenet201-c1103571.pth); audiocnn cannot download weights here: "
            "fetch the file elsewhere and pass its path"
        )
    if not os.path.exists(weights):
        raise FileNotFoundError(f"{weights}: ImageNet weight file not found (--imagenet-weights)")
    if config.checkpoint:
        raise ValueError(f"--init {','.join(inits)} compares starting points; --checkpoint {config.checkpoint} would replace both")
    arms = {}
    for init in inits:
        kw = {**kwargs, "init": init, **({"imagenet_weights": str(weights)} if init == "imagenet" else {})}
        arms[init] = dataclasses.replace(config, model_kwargs=kw)
    return arms


def compare_inits(data, config: TrainConfig, out_dir, *, inits=INITS, imagenet_weights=None, **run_kwargs) -> dict:
    """Train ``config.model`` once per initialisation on the same folds and write one report.

    Args:
        data, config: as :func:`~audiocnn.evaluate.protocol.run_experiment`; ``config.model`` must
            be an ImageNet model and ``config.model_kwargs`` must not set ``init``.
        inits: the arms, in report order (the paired difference is first minus second).
        imagenet_weights: torchvision's weight file for the ``imagenet`` arm (default:
            ``config.model_kwargs["imagenet_weights"]``).
        run_kwargs: passed to ``run_experiment`` for every arm (``folds``, ``max_folds``,
            ``resume``, ``cache_dir``...).

    Writes ``out_dir/init_<arm>/`` (a full run each) and ``out_dir/comparison.{md,json,png}``;
    returns the comparison dict. Folds and validation splits depend only on the data, ``folds``
    and ``config.seed``, so the arms share them; ``compare_runs`` checks it per fold.
    """
    from audiocnn.evaluate.protocol import is_global_zero, run_experiment
    from audiocnn.train.loop import build_model

    arms = init_arm_configs(config, inits, imagenet_weights)
    for name, cfg in arms.items():  # a bad weight file fails now, not after the first arm's training
        build_model(cfg, 2)
    out_dir = Path(out_dir)
    dirs = {}
    for name, cfg in arms.items():
        dirs[name] = out_dir / f"init_{name}"
        log.info("arm %s: training into %s", name, dirs[name])
        run_experiment(data, cfg, dirs[name], **run_kwargs)
    if not is_global_zero():
        return {}
    comparison = compare_runs(dirs)
    write_comparison(out_dir, comparison)
    return comparison


def _config_differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        if k in TrainConfig.RUNTIME_FIELDS:
            continue
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _config_differences(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}")
    return out


def _paired_tests(diff: np.ndarray) -> dict:
    """Paired t-test and Wilcoxon signed-rank test (two-sided) on per-fold differences."""
    from scipy import stats

    n = len(diff)
    out = {"n": n}
    if n < 2 or not np.any(diff != 0):
        out["note"] = "needs at least 2 folds with a non-zero difference"
        return out
    if np.std(diff) > 0:
        out["t_test_p"] = float(stats.ttest_rel(diff, np.zeros_like(diff)).pvalue)
    nz = diff[diff != 0]
    out["wilcoxon_p"] = float(stats.wilcoxon(nz).pvalue)
    out["n_nonzero"] = int(len(nz))
    out["wilcoxon_min_p"] = float(2.0 / 2 ** len(nz))  # smallest two-sided p reachable with these folds
    return out


def compare_runs(runs: dict) -> dict:
    """Paired comparison of two runs of :func:`run_experiment` (``{arm name: run folder}``).

    Reads each folder's ``metrics.json``; folds are paired by name. Raises ``ValueError`` when
    the runs are not comparable (other task, other fold names, or a fold whose training,
    validation or test files differ by their ``split_sha1``). Returns a dict with the arms'
    summaries, per-fold values and differences (first arm minus second), wins and paired tests.
    """
    if len(runs) != 2:
        raise ValueError(f"a paired comparison takes 2 runs, got {len(runs)}")
    names = list(runs)
    metrics = {}
    for name, d in runs.items():
        path = Path(d) / "metrics.json"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no metrics.json (run {name!r} did not finish)")
        metrics[name] = json.loads(path.read_text())
    a, b = (metrics[n] for n in names)
    if a["task"] != b["task"]:
        raise ValueError(f"runs {names[0]} ({a['task']}) and {names[1]} ({b['task']}) are different tasks")
    keys = [k for k in _KEYS[a["task"]] if k in a["summary"] and k in b["summary"]]
    fa = {f["fold"]: f for f in a["folds"]}
    fb = {f["fold"]: f for f in b["folds"]}
    if list(fa) != list(fb):
        raise ValueError(f"runs have different folds: {names[0]} {list(fa)}, {names[1]} {list(fb)}")
    verified = True
    for fold in fa:
        sa, sb = fa[fold].get("split_sha1"), fb[fold].get("split_sha1")
        if sa is None or sb is None:
            verified = False
        elif sa != sb:
            raise ValueError(f"fold {fold}: the runs trained, validated or tested on different files (split_sha1 {sa[:12]} != {sb[:12]}); not a paired comparison")
        for n in ("n_train", "n_val", "n_test"):
            if fa[fold][n] != fb[fold][n]:
                raise ValueError(f"fold {fold}: {n} differs ({fa[fold][n]} vs {fb[fold][n]}); not a paired comparison")
    folds = []
    for fold in fa:
        row = {"fold": fold, "n_val": fa[fold]["n_val"], "n_test": fa[fold]["n_test"]}
        for k in keys:
            va, vb = float(fa[fold][k]), float(fb[fold][k])
            row[k] = {names[0]: va, names[1]: vb, "difference": va - vb}
        row["best_epoch"] = {names[0]: fa[fold]["best_epoch"], names[1]: fb[fold]["best_epoch"]}
        row["seconds"] = {names[0]: fa[fold]["seconds"], names[1]: fb[fold]["seconds"]}
        folds.append(row)
    summary = {}
    for k in keys:
        diff = np.array([r[k]["difference"] for r in folds])
        summary[k] = {
            names[0]: {s: a["summary"][k][s] for s in ("mean", "std")},
            names[1]: {s: b["summary"][k][s] for s in ("mean", "std")},
            "difference": {"mean": float(diff.mean()), "std": float(diff.std())},
            "wins": {names[0]: int((diff > 0).sum()), names[1]: int((diff < 0).sum()), "ties": int((diff == 0).sum())},
            "paired_tests": _paired_tests(diff),
        }
    return {
        "arms": names,
        "runs": {n: str(runs[n]) for n in names},
        "task": a["task"],
        "metrics": keys,
        "primary": keys[0],
        "summary": summary,
        "folds": folds,
        "n_folds": len(folds),
        "n_folds_total": a["summary"].get("n_folds_total", len(folds)),
        "splits_verified": verified,
        "config": {n: metrics[n]["config"] for n in names},
        "config_differences": _config_differences(a["config"], b["config"]),
    }


def plot_comparison(comparison: dict, path) -> None:
    """Left: the primary metric per fold, one bar per arm, and the mean ± std; right: each fold's
    pair of scores joined by a line (paired dots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from audiocnn.evaluate.report import fold_label, save_figure

    k = comparison["primary"]
    names = comparison["arms"]
    folds = comparison["folds"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(max(7.0, 0.6 * len(folds) + 6), 4), gridspec_kw={"width_ratios": [3, 1]})
    x = np.arange(len(folds) + 1)
    colours = ("tab:blue", "tab:orange")
    for j, (name, c) in enumerate(zip(names, colours)):
        mean, std = (comparison["summary"][k][name][s] for s in ("mean", "std"))
        a1.bar(x + (j - 0.5) * 0.38, [f[k][name] for f in folds] + [mean], 0.38, color=c, label=name)
        a1.errorbar(x[-1] + (j - 0.5) * 0.38, mean, yerr=std, color="k", capsize=3)
    a1.set_xticks(x, labels=[fold_label(f["fold"]) for f in folds] + ["mean"])
    a1.set_xlabel("test fold")
    a1.set_ylabel(k)
    a1.set_title(f"{k} per fold (mean ± std over folds at right)")
    a1.legend(fontsize=8)
    for f in folds:
        a2.plot([0, 1], [f[k][names[0]], f[k][names[1]]], color="0.6", marker="o")
    a2.set_xticks([0, 1], labels=names)
    a2.set_xlim(-0.4, 1.4)
    a2.set_title("paired by fold")
    save_figure(fig, Path(path))
    plt.close(fig)


def _p(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3g}"


def write_comparison(out_dir, comparison: dict) -> None:
    """``comparison.json``, ``comparison.md`` and ``comparison.png`` in ``out_dir``."""
    from audiocnn.evaluate.report import fold_label, format_value

    out_dir = Path(out_dir)
    write_json_atomic(out_dir / "comparison.json", comparison)
    plot_comparison(comparison, out_dir / "comparison.png")
    A, B = comparison["arms"]
    keys = comparison["metrics"]
    cfg = comparison["config"][A]
    s = comparison["summary"]
    prim = comparison["primary"]
    title = f"{cfg['model']} on {cfg['dataset']}: {A} vs {B}"
    if cfg["model"] != comparison["config"][B]["model"]:
        title = f"{A} vs {B} on {cfg['dataset']}"
    elif set(comparison["arms"]) == set(INITS):
        title = f"{cfg['model']} on {cfg['dataset']}: ImageNet vs random initialisation"
    partial = ""
    if comparison["n_folds"] < comparison["n_folds_total"]:
        partial = f" (only {comparison['n_folds']} of {comparison['n_folds_total']} folds: a quick look, not a full result)"
    w = s[prim]["wins"]
    lines = [f"# {title}", ""]
    lines += [f"Over {comparison['n_folds']} test folds{partial}, mean ± std:", ""]
    for k in keys:
        lines.append(
            f"- **{k}**: {A} {s[k][A]['mean']:.4f} ± {s[k][A]['std']:.4f}, {B} {s[k][B]['mean']:.4f} ± {s[k][B]['std']:.4f}; "
            f"difference ({A} − {B}) {s[k]['difference']['mean']:+.4f} ± {s[k]['difference']['std']:.4f}"
        )
    lines += ["", f"{A} has the higher {prim} on {w[A]} fold(s), {B} on {w[B]}, tie on {w['ties']}.", ""]
    t = s[prim]["paired_tests"]
    if "note" in t:
        lines.append(f"Paired tests on {prim}: not computed ({t['note']}).")
    else:
        lines.append(
            f"Paired tests on {prim} (two-sided, per-fold differences): t-test p = {_p(t.get('t_test_p'))}, "
            f"Wilcoxon signed-rank p = {_p(t.get('wilcoxon_p'))} (with {t['n_nonzero']} non-zero differences "
            f"it cannot go below {_p(t.get('wilcoxon_min_p'))}). The folds share training data, so these p-values are optimistic."
        )
    from audiocnn.evaluate.report import selection_sentence

    selection = selection_sentence(comparison["folds"])

    same = "identical in both arms (same `split_sha1` of the training, validation and test file lists per fold)"
    lines += [
        "",
        f"Folds and validation splits: {same if comparison['splits_verified'] else 'paired by fold name and sizes only (runs without split_sha1)'}. "
        f"{selection[:1].upper()}{selection[1:]}",
        "",
        "## Per fold",
        "",
        "| fold | test | " + " | ".join(f"{k} {A} | {k} {B} | Δ {k}" for k in keys) + f" | best epoch {A} | best epoch {B} |",
        "|---|---|" + "---|---|---|" * len(keys) + "---|---|",
    ]
    for f in comparison["folds"]:
        vals = " | ".join(f"{format_value(f[k][A])} | {format_value(f[k][B])} | {f[k]['difference']:+.4f}" for k in keys)
        lines.append(f"| {fold_label(f['fold'])} | {f['n_test']} | {vals} | {f['best_epoch'][A]} | {f['best_epoch'][B]} |")
    diffs = comparison["config_differences"]
    lines += ["", "## Configuration", "", f"Settings that differ between the arms: {', '.join(f'`{d}`' for d in diffs) or 'none'}.", ""]
    lines += ["| setting | " + A + " | " + B + " |", "|---|---|---|"]
    cb = comparison["config"][B]
    for k in cfg:
        va, vb = cfg.get(k), cb.get(k)
        lines.append(f"| {k} | {va if va not in (None, '', {}) else '-'} | {vb if vb not in (None, '', {}) else '-'} |")
    lines += [
        "",
        "## Files",
        "",
        f"- `{Path(comparison['runs'][A]).name}/`, `{Path(comparison['runs'][B]).name}/`: each arm's full run "
        "(`report.md`, `metrics.json`, learning curves, confusion matrix, `fold_<k>/best.pth`)",
        "- `comparison.json`: these numbers; `comparison.png`: per-fold bars and paired dots",
        "",
    ]
    write_text_atomic(out_dir / "comparison.md", "\n".join(lines))
