"""``--recipe auto``: inside each training fold, choose between the trained CNN and the baselines
by an inner validation split alone, and score the chosen method on the fold's test files.

Per outer fold the training indices are split once more (:data:`INNER_FRACTION` held out; whole
groups when the data has groups, as the outer folds are). The CNN is trained on the inner
training part with the run's recipe and scored on the inner validation part; MFCC + SVM and the
random CNN + SVM are fitted and scored on the same inner parts. The method with the best inner
accuracy is chosen (the CNN on a tie, then MFCC + SVM); the fold's result is the chosen method's
accuracy on the outer test files, where every method was fitted on the whole training part. The
test files never take part in the choice.

The fold's checkpoint is always the CNN trained on the whole training part (what ``tag``,
``embed`` and ``evaluate`` use); the report says how often each method was chosen.
"""

from __future__ import annotations

from collections.abc import Sequence

from audiocnn.metrics import summarize_folds

__all__ = ["INNER_FRACTION", "METHODS", "choose", "chosen_text", "report_lines", "summarize_choices"]

# share of a fold's training indices held out for the choice
INNER_FRACTION = 0.2
# candidates in order of preference on a tie
METHODS = ("cnn", "mfcc_svm", "random_cnn_svm")
TITLES = {"cnn": "trained CNN", "mfcc_svm": "MFCC + SVM", "random_cnn_svm": "random CNN + SVM"}


def choose(inner: dict[str, float]) -> str:
    """The method of ``inner`` (``{method: inner validation accuracy}``) with the highest score;
    ties go to the earlier method of :data:`METHODS`. Methods absent or ``None`` are skipped."""
    scored = [(m, inner[m]) for m in METHODS if inner.get(m) is not None]
    if not scored:
        raise ValueError("no method was scored on the inner validation split")
    best = max(s for _, s in scored)
    return next(m for m, s in scored if s == best)


def summarize_choices(
    fold_names: Sequence[str],
    inner: Sequence[dict[str, float]],
    outer: Sequence[dict[str, float]],
    inner_sizes: Sequence[tuple[int, int]],
) -> dict:
    """The ``metrics.json`` record of an auto run.

    Args:
        fold_names: the outer folds, in order.
        inner: per fold, ``{method: accuracy on the inner validation split}``.
        outer: per fold, ``{method: accuracy on the outer test fold}`` (each method fitted on the
            whole training part).
        inner_sizes: per fold, ``(inner training files, inner validation files)``.

    Returns ``{"recipe": "auto", "inner_fraction", "folds": [{fold, choice, inner, outer,
    accuracy, n_inner_train, n_inner_val}], "summary": {"accuracy": {mean, std, min, max}},
    "chosen": {method: folds}}``; ``accuracy`` is the chosen method's test accuracy.
    """
    folds = []
    for name, i, o, (n_tr, n_va) in zip(fold_names, inner, outer, inner_sizes, strict=True):
        c = choose(i)
        if o.get(c) is None:
            raise ValueError(f"fold {name}: the chosen {TITLES[c]} has no test score")
        folds.append({"fold": str(name), "choice": c, "inner": dict(i), "outer": dict(o), "accuracy": float(o[c]),
                      "n_inner_train": int(n_tr), "n_inner_val": int(n_va)})
    summary = summarize_folds(folds, ("accuracy",))
    chosen = {m: sum(f["choice"] == m for f in folds) for m in METHODS}
    return {"recipe": "auto", "inner_fraction": INNER_FRACTION, "folds": folds, "summary": summary, "chosen": chosen}


def chosen_text(record: dict) -> str:
    """How often each method was chosen, e.g. ``"trained CNN 4, MFCC + SVM 1"``."""
    return ", ".join(f"{TITLES[m]} {n}" for m, n in record["chosen"].items() if n)


def report_lines(record: dict) -> list[str]:
    """The report's section on an auto run (Markdown lines, no blank line after the table)."""
    s = record.get("summary", {}).get("accuracy")
    lines = ["## Recipe auto", ""]
    if not s:
        return lines + ["No fold was scored."]
    lines += [
        f"Per fold, the method with the best accuracy on an inner validation split "
        f"({record['inner_fraction']:.0%} of the training part) was chosen, then scored on the test fold: "
        f"accuracy **{s['mean']:.4f} ± {s['std']:.4f}**. Chosen: {chosen_text(record)}.",
        "",
        "| fold | chosen | inner: " + " | inner: ".join(TITLES[m] for m in METHODS) + " | test accuracy of the choice |",
        "|---|---|" + "---|" * len(METHODS) + "---|",
    ]
    for f in record["folds"]:
        cells = " | ".join("-" if f["inner"].get(m) is None else f"{f['inner'][m]:.3f}" for m in METHODS)
        lines.append(f"| {f['fold']} | {TITLES[f['choice']]} | {cells} | {f['accuracy']:.4f} |")
    return lines
