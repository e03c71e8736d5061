"""The run report: ``metrics.json``, ``report.md``, ``confusion_matrix.png``, ``learning_curves.png``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audiocnn.atomic import write_json_atomic, write_text_atomic, write_with
from audiocnn.evaluate.baselines import baseline_shortfalls
from audiocnn.metrics import metric_names, primary_metric

__all__ = ["baseline_headline", "baseline_section", "fold_label", "format_value", "plot_confusion_matrix", "plot_learning_curves", "save_figure", "write_report"]


def fold_label(name) -> str:
    """``"fold1"`` -> ``"1"`` so that labels read "fold 1", not "fold fold1"."""
    import re

    return re.sub(r"^fold[_-]?", "", str(name)) or str(name)


def format_value(v, digits=4) -> str:
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def selection_sentence(folds: list[dict]) -> str:
    """How each fold's weights were chosen, from the folds' validation sizes (``n_val``; a fold
    recorded without one counts as validated, as every run was before ``--val-fraction 0``)."""
    with_val = [f for f in folds if f.get("n_val", 1) > 0]
    if not with_val:
        return ("no validation split (`--val-fraction 0`, the default): each fold trained on all of its training "
                "folds for the whole schedule and kept the last epoch; each test fold was scored once, with those weights.")
    if len(with_val) < len(folds):
        return ("per fold, a validation split taken from the training folds chose the epoch where there was one "
                "(folds without one kept the last epoch); each test fold was scored once, with those weights.")
    return ("per fold, a validation split taken from the training folds chose the epoch (and drove early stopping, "
            "`--patience`); each test fold was scored once, with those weights.")


def save_figure(fig, path: Path) -> None:
    """Save a matplotlib figure atomically (110 dpi, tight bounding box)."""
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight"))


def plot_confusion_matrix(cm: np.ndarray, classes, path: Path, title: str = "") -> None:
    """Counts with class names; rows = true class, columns = predicted class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    n = len(classes)
    size = max(4.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(n), labels=classes, rotation=90 if n > 6 else 0)
    ax.set_yticks(range(n), labels=classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix (summed over folds)")
    if n <= 30:
        thr = cm.max() / 2 if cm.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8, color="white" if cm[i, j] > thr else "black")
    save_figure(fig, path)
    plt.close(fig)


def plot_learning_curves(histories: list[list[dict]], fold_names: list[str], path: Path, metric_name: str) -> None:
    """Left: train and validation loss per epoch (per validation step with ``--val-every``); right:
    the validation metric; one colour per fold. Without a validation split in any fold
    (``--val-fraction 0``), the training loss alone."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    validated = any(any("val_loss" in h for h in hist) for hist in histories)
    if validated:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    else:
        fig, a1 = plt.subplots(figsize=(6.5, 4))
        a2 = None
    # --val-every: one record per validation, each with its step
    x_name = "step" if any(h and all("step" in r for r in h) for h in histories) else "epoch"
    colours = plt.cm.tab10.colors
    for k, (hist, name) in enumerate(zip(histories, fold_names)):
        if not hist:
            continue
        name = fold_label(name)
        c = colours[k % len(colours)]
        ep = [h[x_name] for h in hist]
        a1.plot(ep, [h.get("train_loss", np.nan) for h in hist], color=c, label=f"fold {name} train")
        if a2 is not None and any("val_loss" in h for h in hist):
            a1.plot(ep, [h.get("val_loss", np.nan) for h in hist], color=c, ls="--", label=f"fold {name} val")
            a2.plot(ep, [h.get("val_metric", np.nan) for h in hist], color=c, label=f"fold {name}")
    from matplotlib.ticker import MaxNLocator

    a1.xaxis.set_major_locator(MaxNLocator(integer=True))
    a1.set_xlabel(x_name)
    a1.set_ylabel("loss")
    a1.set_title("loss (solid: train, dashed: validation)" if validated else "training loss (no validation split)")
    if a2 is not None:
        a2.xaxis.set_major_locator(MaxNLocator(integer=True))
        a2.set_xlabel(x_name)
        a2.set_ylabel(f"validation {metric_name}")
        a2.set_title(f"validation {metric_name}")
    if len(histories) <= 10 and any(histories):
        a1.legend(fontsize=7, ncol=2)
        if a2 is not None:
            a2.legend(fontsize=7)
    save_figure(fig, path)
    plt.close(fig)


def baseline_headline(metrics: dict) -> list[str]:
    """The lines under the report's result: the baselines' primary metric on the same folds and
    a warning per baseline the model does not beat."""
    key = primary_metric(metrics.get("task") == "tagging")
    scored = [b for b in (metrics.get("baselines") or {}).values() if key in (b.get("summary") or {})]
    if not scored:
        return []
    shown = ", ".join(f"{b['title']} {b['summary'][key]['mean']:.4f} ± {b['summary'][key]['std']:.4f}" for b in scored)
    lines = [f"Baselines on the same test folds ({key}): {shown}.", ""]
    for w in baseline_shortfalls(metrics):
        lines += [f"**Warning:** {w}.", ""]
    return lines


def baseline_section(metrics: dict) -> list[str]:
    """The report's "Baselines" section from a ``metrics.json`` dict: the model beside each
    baseline, mean ± std over the same test folds, then fold by fold."""
    tagging = metrics.get("task") == "tagging"
    baselines = metrics.get("baselines") or {}
    lines = ["## Baselines (the same test folds)", ""]
    if tagging:
        return lines + ["None: the baselines are scored for single-label classification only.", ""]
    if not baselines:
        return lines + ["Not scored (`--no-baselines`).", ""]
    keys = metric_names(False)
    key = primary_metric(False)
    s = metrics["summary"]
    model = (metrics.get("config") or {}).get("model", "model")
    cell = lambda summ, k: f"{summ[k]['mean']:.4f} ± {summ[k]['std']:.4f}" if k in summ else "-"  # noqa: E731
    lines += [
        "| method | " + " | ".join(keys) + " | seconds | how |",
        "|---|" + "---|" * len(keys) + "---|---|",
        f"| **{model}** | " + " | ".join(cell(s, k) for k in keys) + f" | {sum(f.get('seconds', 0.0) for f in metrics['folds']):.0f} | trained (this run) |",
    ]
    for b in baselines.values():
        if "error" in b:
            lines.append(f"| {b['title']} | " + " | ".join("-" for _ in keys) + f" | - | failed: {b['error']} |")
            continue
        lines.append(f"| {b['title']} | " + " | ".join(cell(b["summary"], k) for k in keys) + f" | {b['seconds']:.0f} | {b['description']} |")
    scored = [b for b in baselines.values() if "error" not in b]
    if scored:
        lines += ["", f"Per fold ({key}; hyper-parameters of the SVMs chosen by inner cross-validation on the training part):", ""]
        lines += ["| fold | " + " | ".join([model] + [b["title"] for b in scored]) + " |", "|---|" + "---|" * (1 + len(scored))]
        by_fold = [{f["fold"]: f for f in b["folds"]} for b in scored]
        for f in metrics["folds"]:
            vals = [f.get(key, float("nan"))] + [d.get(f["fold"], {}).get(key, float("nan")) for d in by_fold]
            lines.append(f"| {fold_label(f['fold'])} | " + " | ".join(f"{v:.4f}" for v in vals) + " |")
    return lines + [""]


def write_report(out_dir, metrics: dict, histories: list[list[dict]]) -> None:
    """Write the four report files into ``out_dir`` from the ``metrics.json`` dict."""

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "metrics.json", metrics)
    tagging = metrics.get("task") == "tagging"
    keys = metric_names(tagging)
    folds = metrics["folds"]
    if not tagging and metrics.get("confusion_matrix") is not None:
        plot_confusion_matrix(np.asarray(metrics["confusion_matrix"]), metrics["classes"], out_dir / "confusion_matrix.png")
    plot_learning_curves(histories, [f["fold"] for f in folds], out_dir / "learning_curves.png", "mAP" if tagging else "accuracy")

    cfg = metrics["config"]
    s = metrics["summary"]
    lines = [f"# {cfg['model']} on {cfg['dataset']}", ""]
    head = ", ".join(f"**{k}** {s[k]['mean']:.4f} ± {s[k]['std']:.4f}" for k in keys if k in s)
    partial = f" (only {s['n_folds']} of {s['n_folds_total']} folds: a quick look, not a full result)" if s["n_folds"] < s["n_folds_total"] else ""
    lines += [f"Result over {s['n_folds']} test folds (mean ± std){partial}: {head}", ""]
    lines += baseline_headline(metrics)
    plain_keys = [f"{k}_unadapted" for k in keys if f"{k}_unadapted" in s]
    bn_keys = [f"{k}_adabn" for k in keys if f"{k}_adabn" in s]
    show = lambda ks: ", ".join(f"{k} {s[k]['mean']:.4f} ± {s[k]['std']:.4f}" for k in ks)  # noqa: E731
    if bn_keys:
        lines += [
            "These scores use **test-time adaptation by information maximisation** (`--adapt-im`): before "
            "scoring, each test fold's BatchNorm statistics were re-estimated on that fold's unlabelled audio, "
            "then the BatchNorm scales and shifts were trained on it (no labels) to make predictions confident "
            "while using the classes evenly. That is a transductive setting, and it assumes the test audio "
            f"covers the classes roughly evenly. BatchNorm statistics only: {show(bn_keys)}; without any "
            f"adaptation: {show(plain_keys)}.",
            "",
        ]
    elif plain_keys:
        lines += [
            "These scores use **test-time BatchNorm adaptation** (`--adapt-bn`): before scoring, each test "
            "fold's BatchNorm statistics were re-estimated on that fold's unlabelled audio (no labels, no "
            f"training). That is a transductive setting; without it: {show(plain_keys)}.",
            "",
        ]
    cnn_keys = [f"{k}_cnn_only" for k in keys if f"{k}_cnn_only" in s]
    if cnn_keys:
        lines += [
            "The model is the CNN with its **late-fused MFCC-statistics classifier** (`--stats-head`): a "
            "logistic regression on MFCC statistics (on random Fourier features of them unless `--stats-head-features 0`), "
            "fitted on each fold's training part after the CNN, "
            "whose probabilities are averaged with the CNN's with a share chosen on the validation split, or 0.5 without one "
            f"(per fold: {', '.join(format_value(f.get('stats_head_share', float('nan'))) for f in folds)}). "
            f"The CNN alone: {show(cnn_keys)}.",
            "",
        ]
    keys = tuple(keys) + tuple(cnn_keys) + tuple(plain_keys) + tuple(bn_keys)
    lines += [
        f"Model selection: {selection_sentence(folds)}",
        "",
        "## Per fold",
        "",
        "| fold | train | val | test | " + " | ".join(keys) + " | best epoch | epochs run | val metric | seconds |",
        "|---|---|---|---|" + "---|" * len(keys) + "---|---|---|---|",
    ]
    for f in folds:
        vals = " | ".join(format_value(f.get(k, float("nan"))) for k in keys)
        lines.append(
            f"| {fold_label(f['fold'])} | {f['n_train']} | {f['n_val']} | {f['n_test']} | {vals} | {f['best_epoch']} | "
            f"{f['epochs_run']} | {format_value(f.get('val_metric', float('nan')))} | {f['seconds']:.0f} |"
        )
    if metrics.get("recipe"):
        from audiocnn.evaluate.auto_recipe import report_lines

        lines += ["", *report_lines(metrics["recipe"])]
    lines += ["", *baseline_section(metrics), "## Configuration", "", "| setting | value |", "|---|---|"]
    for k, v in cfg.items():
        lines.append(f"| {k} | {v if v not in (None, '', {}) else '-'} |")
    ds = metrics.get("data_summary") or {}
    lines += ["", "## Data", "", f"{len(metrics['classes'])} classes: {', '.join(map(str, metrics['classes']))}", ""]
    for k, v in ds.items():
        if isinstance(v, dict):
            lines.append(f"- {k}: " + ", ".join(f"{a}: {b}" for a, b in v.items()))
        else:
            lines.append(f"- {k}: {v}")
    bad = metrics.get("bad_files") or []
    lines += ["", f"## Bad files skipped ({len(bad)})", ""]
    lines += [f"- `{b['path']}`: {b['reason']}" for b in bad] or ["none"]
    lines += [
        "",
        "## Files",
        "",
        "- `metrics.json`: summary, per-fold metrics, configuration",
        "- `learning_curves.png`: training loss per epoch, with the validation loss and metric when there is a validation split",
    ]
    if not tagging:
        lines.append("- `confusion_matrix.png`: test predictions summed over folds")
    lines += [
        "- `fold_<k>/best.pth`: the selected model of each fold (`audiocnn.create_model(name, checkpoint=...)`)",
        "",
        f"Wall time: {metrics['wall_seconds']:.0f} s on {metrics['machine']['platform']} ({metrics['machine']['cpus']} CPUs).",
        "",
    ]
    write_text_atomic(out_dir / "report.md", "\n".join(lines))
