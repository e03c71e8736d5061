import math

import numpy as np
import pytest
from scipy.stats import norm
from sklearn import metrics as skm

from audiocnn import metrics as M
from audiocnn.evaluate.protocol import auto_clip_seconds


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, 60)
    p = np.where(rng.random(60) < 0.6, y, rng.integers(0, 5, 60))
    assert M.accuracy(y, p) == pytest.approx(skm.accuracy_score(y, p))
    assert M.macro_f1(y, p) == pytest.approx(skm.f1_score(y, p, average="macro"))
    np.testing.assert_array_equal(M.confusion_matrix(y, p, 5), skm.confusion_matrix(y, p, labels=range(5)))


def test_macro_f1_class_never_predicted_counts_zero():
    y = np.array([0, 0, 1, 1])
    p = np.array([0, 0, 0, 0])
    # class 0: P=0.5 R=1 F1=2/3; class 1: F1=0 -> mean 1/3
    assert M.macro_f1(y, p) == pytest.approx(1 / 3)


def test_classification_metrics_from_scores():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    out = M.classification_metrics(np.array([0, 1, 1]), probs)
    assert out["accuracy"] == pytest.approx(2 / 3)
    assert out["confusion_matrix"] == [[1, 0], [1, 1]]


def test_average_precision_hand_computed():
    # ranks: pos (P=1/1, R=1/2), neg, pos (P=2/3, R=1) -> AP = 0.5*1 + 0.5*2/3
    assert M.average_precision([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx(0.5 + 1 / 3)
    assert math.isnan(M.average_precision([0, 0], [0.1, 0.2]))


@pytest.mark.parametrize("seed", [0, 1])
def test_ap_and_auc_match_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, (80, 4))
    s = np.round(rng.random((80, 4)) + 0.3 * y, 1)  # rounding makes ties
    for c in range(4):
        assert M.average_precision(y[:, c], s[:, c]) == pytest.approx(skm.average_precision_score(y[:, c], s[:, c]))
        assert M.roc_auc(y[:, c], s[:, c]) == pytest.approx(skm.roc_auc_score(y[:, c], s[:, c]))


def test_map_skips_classes_without_positives():
    y = np.array([[1, 0], [0, 0], [1, 0]])
    s = np.array([[0.9, 0.5], [0.1, 0.4], [0.8, 0.3]])
    assert M.mean_average_precision(y, s) == pytest.approx(1.0)
    t = M.tagging_metrics(y, s)
    assert t["mAP"] == pytest.approx(1.0) and t["auc"] == pytest.approx(1.0)


def test_d_prime():
    assert M.d_prime(0.5) == pytest.approx(0.0)
    assert M.d_prime(float(norm.cdf(1 / math.sqrt(2)))) == pytest.approx(1.0)
    assert M.d_prime(0.8) == pytest.approx(math.sqrt(2) * 0.8416212335729143)
    assert M.d_prime(0.2) == pytest.approx(-M.d_prime(0.8))


def test_summarize_folds():
    s = M.summarize_folds([{"accuracy": 0.8}, {"accuracy": 0.9}, {"accuracy": 1.0}], ["accuracy", "mAP"])
    assert s["accuracy"]["mean"] == pytest.approx(0.9)
    assert s["accuracy"]["std"] == pytest.approx(np.std([0.8, 0.9, 1.0]))
    assert "mAP" not in s


def test_auto_clip_seconds():
    assert auto_clip_seconds(np.full(10, 0.62)) == 0.75
    assert auto_clip_seconds(np.full(10, 0.1)) == 0.5
    assert auto_clip_seconds(np.full(10, 30.0)) == 10.0
    assert auto_clip_seconds(np.r_[np.full(99, 2.0), [9.0]]) == 2.0
