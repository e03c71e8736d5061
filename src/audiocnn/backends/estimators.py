"""Back-ends on fixed embeddings: SVM (RBF and linear) and ELM grids, and the nested
cross-validation protocol that scores them.

Every back-end is ``GridSearchCV(Pipeline([StandardScaler, classifier]), grid)``: the scaler is
fitted inside each (inner) training split, hyper-parameters are chosen by inner
cross-validation on the outer training folds only, and the reported accuracy is measured on the
outer test fold, which no fit or selection ever sees. (The study's code reported the tuning
score itself; we do not.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import GridSearchCV, GroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from audiocnn.backends.elm import ELMClassifier

__all__ = ["BACKENDS", "FoldResult", "make_backend", "make_elm_search", "make_svm_search", "nested_cv", "svm_grid", "elm_grid"]

BACKENDS = ("svm", "elm")


def svm_grid(n_features: int, C=(0.1, 1.0, 10.0, 100.0), gamma_scales=(0.25, 1.0, 4.0), linear_C=(0.001, 0.01, 0.1)) -> list[dict]:
    """RBF over ``C x gamma`` and linear over ``linear_C``. With standardised features
    ``gamma = s / n_features`` (``s = 1`` is scikit-learn's ``"scale"``)."""
    grid = [{"clf__kernel": ["rbf"], "clf__C": list(C), "clf__gamma": [s / max(1, n_features) for s in gamma_scales]}]
    if linear_C:
        grid.append({"clf__kernel": ["linear"], "clf__C": list(linear_C)})
    return grid


def elm_grid(n_hidden=(500, 2000), alpha=(0.1, 1.0, 10.0, 100.0)) -> list[dict]:
    return [{"clf__n_hidden": list(n_hidden), "clf__alpha": list(alpha)}]


def _search(clf: BaseEstimator, grid: list[dict], inner_folds: int) -> GridSearchCV:
    pipe = Pipeline([("scale", StandardScaler()), ("clf", clf)])
    # cv is set per outer fold by nested_cv (grouped when groups exist); this is the default.
    return GridSearchCV(pipe, grid, cv=inner_folds, scoring="accuracy", refit=True, n_jobs=None, error_score="raise")


def make_svm_search(n_features: int, inner_folds: int = 3, **grid_kw) -> GridSearchCV:
    """StandardScaler + SVC, grid over kernel (RBF, linear), C and gamma."""
    return _search(SVC(cache_size=500), svm_grid(n_features, **grid_kw), inner_folds)


def make_elm_search(n_features: int, inner_folds: int = 3, random_state: int = 0, **grid_kw) -> GridSearchCV:
    """StandardScaler + :class:`ELMClassifier`, grid over hidden size and ridge regularisation."""
    return _search(ELMClassifier(random_state=random_state), elm_grid(**grid_kw), inner_folds)


def make_backend(name: str, n_features: int, inner_folds: int = 3, random_state: int = 0, grid: str = "full") -> GridSearchCV:
    """``"svm"`` or ``"elm"``.

    ``grid="full"``: SVM RBF C in {0.1, 1, 10, 100} x gamma in {0.25, 1, 4}/dim + linear C in
    {0.001, 0.01, 0.1} (15 settings); ELM hidden {500, 2000} x alpha {0.1, 1, 10, 100} (8).
    ``grid="small"`` (quick runs, contended CPUs): SVM RBF C in {1, 10, 100} at gamma = 1/dim +
    linear C = 0.01 (4); ELM 1000 hidden x alpha {1, 10, 100} (3).
    """
    small = grid == "small"
    if name == "svm":
        kw = dict(C=(1.0, 10.0, 100.0), gamma_scales=(1.0,), linear_C=(0.01,)) if small else {}
        return make_svm_search(n_features, inner_folds, **kw)
    if name == "elm":
        kw = dict(n_hidden=(1000,), alpha=(1.0, 10.0, 100.0)) if small else {}
        return make_elm_search(n_features, inner_folds, random_state, **kw)
    raise ValueError(f"unknown back-end {name!r}; choose from {', '.join(BACKENDS)}")


@dataclass
class FoldResult:
    fold: str
    accuracy: float
    best_params: dict = field(default_factory=dict)
    fit_seconds: float = 0.0
    n_train: int = 0
    n_test: int = 0
    predictions: list = field(default_factory=list)  # predicted labels of the test items, in test_idx order


def _inner_cv(y: np.ndarray, groups: np.ndarray | None, n_splits: int, seed: int):
    if groups is not None and len(np.unique(groups)) >= n_splits:
        return list(GroupKFold(n_splits).split(np.zeros(len(y)), y, groups))
    counts = np.unique(y, return_counts=True)[1]
    k = max(2, min(n_splits, int(counts.min()))) if len(counts) else n_splits
    return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def nested_cv(
    X: np.ndarray,
    y: np.ndarray,
    folds: Sequence[tuple[str, np.ndarray, np.ndarray]],
    backend: str | BaseEstimator | Callable[[int], BaseEstimator],
    *,
    groups: np.ndarray | None = None,
    inner_folds: int = 3,
    seed: int = 0,
    grid: str = "full",
) -> list[FoldResult]:
    """Score ``backend`` on each outer fold.

    Args:
        X: ``(n_items, dim)`` embeddings; y: ``(n_items,)`` labels.
        folds: ``(name, train_idx, test_idx)`` triples (e.g. ``audiocnn.data.make_folds``).
        backend: ``"svm"`` / ``"elm"``, an estimator (cloned per fold), or a factory
            ``n_features -> estimator``. A ``GridSearchCV`` gets an inner CV built from the
            outer training fold only (grouped by ``groups`` when given, else stratified).
        groups: ``(n_items,)`` group ids (e.g. speaker) for a grouped inner CV.

    Returns:
        one :class:`FoldResult` per outer fold, accuracy measured on its test indices.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    results = []
    for name, train_idx, test_idx in folds:
        train_idx, test_idx = np.asarray(train_idx), np.asarray(test_idx)
        if np.intersect1d(train_idx, test_idx).size:
            raise ValueError(f"fold {name}: training and test indices overlap")
        if isinstance(backend, str):
            est = make_backend(backend, X.shape[1], inner_folds, seed, grid)
        elif isinstance(backend, BaseEstimator):
            est = clone(backend)
        else:
            est = backend(X.shape[1])
        g_train = None if groups is None else np.asarray(groups)[train_idx]
        if isinstance(est, GridSearchCV):
            # inner splits are positions within the training fold: the test fold is not in X_train
            est.set_params(cv=_inner_cv(y[train_idx], g_train, inner_folds, seed))
        t0 = time.perf_counter()
        est.fit(X[train_idx], y[train_idx])
        fit_s = time.perf_counter() - t0
        pred = est.predict(X[test_idx])
        acc = float(np.mean(pred == y[test_idx]))
        params = dict(getattr(est, "best_params_", {}) or {})
        results.append(FoldResult(str(name), acc, params, fit_s, len(train_idx), len(test_idx), pred.tolist()))
    return results
