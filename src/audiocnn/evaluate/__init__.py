"""Evaluation: metrics, clip-level prediction, the k-fold protocol and the run report."""

from audiocnn.metrics import (
    accuracy,
    average_precision,
    classification_metrics,
    confusion_matrix,
    d_prime,
    macro_f1,
    mean_average_precision,
    roc_auc,
    summarize_folds,
    tagging_metrics,
)
from audiocnn.evaluate.predict import predict_manifest
from audiocnn.evaluate.report import write_report


def __getattr__(name):
    # the protocol imports the training package, which imports these metrics: load it lazily
    if name in ("run_experiment", "auto_clip_seconds", "evaluate_checkpoint"):
        from audiocnn.evaluate import protocol

        return getattr(protocol, name)
    if name in ("compare_inits", "compare_runs", "write_comparison"):
        from audiocnn.evaluate import compare

        return getattr(compare, name)
    raise AttributeError(f"module 'audiocnn.evaluate' has no attribute {name!r}")


__all__ = [
    "accuracy",
    "auto_clip_seconds",
    "evaluate_checkpoint",
    "average_precision",
    "classification_metrics",
    "compare_inits",
    "compare_runs",
    "confusion_matrix",
    "d_prime",
    "macro_f1",
    "mean_average_precision",
    "predict_manifest",
    "roc_auc",
    "run_experiment",
    "summarize_folds",
    "tagging_metrics",
    "write_comparison",
    "write_report",
]
