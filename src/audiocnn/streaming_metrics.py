"""mAP, ROC-AUC and d-prime without holding the (clips, classes) score matrix.

:class:`StreamingTaggingMetrics` keeps, for every class, a histogram of the scores of its
positive clips and one of its negative clips: ``2 * classes * bins`` counts (AudioSet, 527
classes, 4,096 bins: 35 MB), whatever the number of clips. Histograms of different batches,
workers or DDP ranks add up (:meth:`~StreamingTaggingMetrics.merge`,
:meth:`~StreamingTaggingMetrics.all_reduce`), so each rank scores its own part of the data
and one sum gathers the result.

Bins are uniform in the logit of the probability, ``log(p / (1 - p))`` clipped to
``[-logit_range, logit_range]`` (default 16, i.e. p from 1e-7 to 1 - 1e-7): sigmoid outputs of
a tagger crowd near 0, where uniform bins in ``p`` would merge most negatives. The metrics are
then the exact ones of scores rounded to their bin: clips in one bin count as tied (tied
scores are one threshold for AP, a half for AUC, as in scikit-learn). The error is bounded by
the pairs of a positive and a negative clip that share a bin; docs/scaling.md gives the
measured differences to scikit-learn (tests/evaluate/test_streaming_metrics.py checks them).
"""

from __future__ import annotations

import math

import numpy as np

from audiocnn.metrics import d_prime

__all__ = ["StreamingAccuracy", "StreamingTaggingMetrics"]


def _all_reduce_sum(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Sum numpy arrays over the ranks of the default torch.distributed group (no-op without one)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return arrays
    out = []
    for a in arrays:
        t = torch.from_numpy(np.ascontiguousarray(a))
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        out.append(t.numpy())
    return out


class StreamingTaggingMetrics:
    """Multi-label metrics from per-class score histograms (see the module docstring).

    Args:
        num_classes: number of classes.
        bins: histogram bins per class.
        logit_range: scores are binned on ``[-logit_range, logit_range]`` in logit units.
    """

    def __init__(self, num_classes: int, bins: int = 4096, logit_range: float = 16.0):
        if num_classes < 1 or bins < 2 or logit_range <= 0:
            raise ValueError(f"need num_classes >= 1, bins >= 2, logit_range > 0; got {num_classes}, {bins}, {logit_range}")
        self.num_classes, self.bins, self.logit_range = int(num_classes), int(bins), float(logit_range)
        self.pos = np.zeros((self.num_classes, self.bins), dtype=np.int64)
        self.neg = np.zeros((self.num_classes, self.bins), dtype=np.int64)

    @property
    def num_clips(self) -> int:
        return int(self.pos[0].sum() + self.neg[0].sum())

    def bin_of(self, probabilities: np.ndarray) -> np.ndarray:
        """Bin index of each probability (same shape, int64)."""
        p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-300, 1.0 - 1e-16)
        u = np.clip(np.log(p) - np.log1p(-p), -self.logit_range, self.logit_range)
        return np.minimum(((u + self.logit_range) / (2 * self.logit_range) * self.bins).astype(np.int64), self.bins - 1)

    def update(self, targets, probabilities) -> None:
        """Add clips: ``targets`` ``(n, classes)`` multi-hot, ``probabilities`` ``(n, classes)`` in [0, 1]."""
        t = np.asarray(targets) > 0.5
        p = np.asarray(probabilities)
        if t.shape != p.shape or t.ndim != 2 or t.shape[1] != self.num_classes:
            raise ValueError(f"targets {t.shape} and probabilities {p.shape} must both be (n, {self.num_classes})")
        flat = self.bin_of(p) + np.arange(self.num_classes)[None, :] * self.bins
        size = self.num_classes * self.bins
        self.pos += np.bincount(flat[t], minlength=size).reshape(self.num_classes, self.bins)
        self.neg += np.bincount(flat[~t], minlength=size).reshape(self.num_classes, self.bins)

    def merge(self, other: StreamingTaggingMetrics) -> StreamingTaggingMetrics:
        if (other.num_classes, other.bins, other.logit_range) != (self.num_classes, self.bins, self.logit_range):
            raise ValueError("cannot merge histograms of different classes, bins or ranges")
        self.pos += other.pos
        self.neg += other.neg
        return self

    def all_reduce(self) -> StreamingTaggingMetrics:
        """Sum the histograms of all DDP ranks (every rank then holds the total)."""
        self.pos, self.neg = _all_reduce_sum([self.pos, self.neg])
        return self

    def average_precision(self) -> np.ndarray:
        """``(classes,)`` AP (NaN for a class without positives)."""
        pos, neg = self.pos[:, ::-1], self.neg[:, ::-1]  # from the highest score down
        tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
        n_pos = tp[:, -1].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
            ap = (pos / n_pos[:, None] * precision).sum(axis=1)  # recall steps only where positives are
        ap[n_pos == 0] = np.nan
        return ap

    def roc_auc(self) -> np.ndarray:
        """``(classes,)`` ROC-AUC (NaN for a class without positives or negatives)."""
        neg_below = np.cumsum(self.neg, axis=1) - self.neg
        n_pos, n_neg = self.pos.sum(axis=1).astype(np.float64), self.neg.sum(axis=1).astype(np.float64)
        wins = (self.pos * (neg_below + 0.5 * self.neg)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = wins / (n_pos * n_neg)
        auc[(n_pos == 0) | (n_neg == 0)] = np.nan
        return auc

    def compute(self) -> dict:
        """``{"mAP", "auc", "d_prime", "clips"}`` as :func:`~audiocnn.evaluate.metrics.tagging_metrics`
        defines them: means over the classes where each is defined, d' of the mean AUC."""
        ap, auc = self.average_precision(), self.roc_auc()
        m_ap = float(np.nanmean(ap)) if np.any(~np.isnan(ap)) else float("nan")
        m_auc = float(np.nanmean(auc)) if np.any(~np.isnan(auc)) else float("nan")
        return {"mAP": m_ap, "auc": m_auc, "d_prime": d_prime(m_auc) if not math.isnan(m_auc) else float("nan"), "clips": self.num_clips}


class StreamingAccuracy:
    """Single-label accuracy and the mean of a per-clip loss, as counts that add up over ranks."""

    def __init__(self):
        self.correct, self.total, self.loss_sum = 0, 0, 0.0

    def update(self, y_true, y_pred, loss_sum: float = 0.0) -> None:
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        self.correct += int((y_true == y_pred).sum())
        self.total += int(y_true.size)
        self.loss_sum += float(loss_sum)

    def all_reduce(self) -> StreamingAccuracy:
        (v,) = _all_reduce_sum([np.array([self.correct, self.total, self.loss_sum], dtype=np.float64)])
        self.correct, self.total, self.loss_sum = int(v[0]), int(v[1]), float(v[2])
        return self

    def compute(self) -> dict:
        n = max(self.total, 1)
        return {"accuracy": self.correct / n if self.total else float("nan"), "loss": self.loss_sum / n, "clips": self.total}
