"""Metrics: accuracy, macro-F1 and confusion matrix (classification); mAP, ROC-AUC and d-prime
(tagging); mean and standard deviation over folds.

Plain numpy (the definitions follow scikit-learn's, and the tests check them against it), so the
evaluation code has no hidden dependency and its edge cases are explicit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import norm

__all__ = [
    "CLASSIFICATION_METRICS",
    "TAGGING_METRICS",
    "accuracy",
    "metric_names",
    "primary_metric",
    "average_precision",
    "classification_metrics",
    "confusion_matrix",
    "d_prime",
    "macro_f1",
    "mean_average_precision",
    "roc_auc",
    "summarize_folds",
    "tagging_metrics",
]

# The metric names every report, summary and log uses (one list, here).
CLASSIFICATION_METRICS = ("accuracy", "macro_f1")
TAGGING_METRICS = ("mAP", "auc", "d_prime")


def metric_names(multilabel: bool) -> tuple[str, ...]:
    """The metrics of a task: mAP, AUC and d-prime for tagging; accuracy and macro-F1 otherwise."""
    return TAGGING_METRICS if multilabel else CLASSIFICATION_METRICS


def primary_metric(multilabel: bool) -> str:
    """The metric a task is judged and selected by: ``"mAP"`` or ``"accuracy"``."""
    return metric_names(multilabel)[0]



def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of ``y_pred == y_true`` (both ``(n,)`` class indices)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    return float(np.mean(y_true == y_pred)) if y_true.size else float("nan")


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``(num_classes, num_classes)`` counts; row = true class, column = predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[int] | None = None) -> float:
    """Unweighted mean of the per-class F1 scores.

    ``labels``: the classes averaged over; default the classes present in ``y_true`` or
    ``y_pred`` (scikit-learn's default). A class with no true and no predicted item scores 0.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if labels is None:
        labels = np.union1d(y_true, y_pred)
    f1s = []
    for c in labels:
        tp = np.sum((y_pred == c) & (y_true == c))
        denom = np.sum(y_pred == c) + np.sum(y_true == c)
        f1s.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(f1s)) if f1s else float("nan")


def average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Average precision of one class: ``sum_n (R_n - R_{n-1}) P_n`` over distinct score
    thresholds (scikit-learn's definition, no interpolation). NaN without positives."""
    y_true = np.asarray(y_true).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = int(y_true.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    s, t = scores[order], y_true[order]
    tp = np.cumsum(t)
    fp = np.cumsum(~t)
    # keep the last index of every run of tied scores: ties are one threshold
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    tp, fp = tp[last], fp[last]
    precision = tp / (tp + fp)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of one class (Mann-Whitney U with ties counted as 1/2).
    NaN when the class has no positive or no negative item."""
    y_true = np.asarray(y_true).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y_true.sum()), int((~y_true).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(scores)  # average ranks for ties
    return float((ranks[y_true].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def d_prime(auc: float) -> float:
    """Sensitivity index from an AUC: ``sqrt(2) * Phi^-1(AUC)`` (as reported for AudioSet)."""
    if not (0.0 <= auc <= 1.0) or math.isnan(auc):
        return float("nan")
    return float(math.sqrt(2.0) * norm.ppf(auc))


def mean_average_precision(targets: np.ndarray, scores: np.ndarray) -> float:
    """Mean over classes with at least one positive of :func:`average_precision`
    (``targets``, ``scores``: ``(n, classes)``)."""
    aps = [average_precision(targets[:, c], scores[:, c]) for c in range(targets.shape[1])]
    aps = [a for a in aps if not math.isnan(a)]
    return float(np.mean(aps)) if aps else float("nan")


def classification_metrics(y_true: np.ndarray, probs: np.ndarray) -> dict:
    """Single-label metrics from class indices ``(n,)`` and scores ``(n, classes)``.

    Returns ``accuracy``, ``macro_f1`` (over all classes of the vocabulary that occur in the
    fold's truth or predictions) and ``confusion_matrix`` (a nested list).
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(probs).argmax(axis=1)
    return {
        "accuracy": accuracy(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred),
        "confusion_matrix": confusion_matrix(y_true, y_pred, probs.shape[1]).tolist(),
    }


def tagging_metrics(targets: np.ndarray, scores: np.ndarray) -> dict:
    """Multi-label metrics from multi-hot ``targets`` and scores ``(n, classes)``: ``mAP``,
    ``auc`` (mean over classes with positives and negatives) and ``d_prime`` of that mean AUC."""
    targets = np.asarray(targets)
    scores = np.asarray(scores)
    aucs = [roc_auc(targets[:, c], scores[:, c]) for c in range(targets.shape[1])]
    aucs = [a for a in aucs if not math.isnan(a)]
    auc = float(np.mean(aucs)) if aucs else float("nan")
    return {"mAP": mean_average_precision(targets, scores), "auc": auc, "d_prime": d_prime(auc)}


def summarize_folds(fold_metrics: Sequence[dict], keys: Sequence[str]) -> dict:
    """``{key: {"mean", "std", "min", "max"}}`` over folds; ``std`` is the population standard
    deviation (numpy's default, ddof=0) of the per-fold values."""
    out = {}
    for k in keys:
        vals = np.array([m[k] for m in fold_metrics if k in m], dtype=np.float64)
        if vals.size == 0:
            continue
        out[k] = {"mean": float(vals.mean()), "std": float(vals.std()), "min": float(vals.min()), "max": float(vals.max())}
    return out
