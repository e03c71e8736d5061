"""ELM / SVM back-ends: the scikit-learn contract, a solvable toy problem, and the nested CV protocol."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from audiocnn.backends import ELMClassifier, make_backend, nested_cv


# (the SVM is scikit-learn's own SVC; Pipeline/GridSearchCV fit their steps in place, which
# check_estimator flags for any estimator, so the checks target what we wrote)
@parametrize_with_checks([ELMClassifier(n_hidden=30, random_state=0), ELMClassifier(n_hidden=5, activation="tanh", random_state=1)])
def test_sklearn_contract(estimator, check):
    check(estimator)


def _blobs(n_per_class=40, n_classes=3, dim=5, sep=6.0, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, sep, (n_classes, dim))
    X = np.concatenate([c + rng.normal(0, 1, (n_per_class, dim)) for c in centres])
    y = np.repeat(np.arange(n_classes), n_per_class)
    return X, y


def test_elm_solves_a_separable_problem_and_generalises():
    X, y = _blobs()
    Xt, yt = _blobs(seed=0)[0] + np.random.default_rng(1).normal(0, 0.3, X.shape), y
    elm = ELMClassifier(n_hidden=200, alpha=1e-3, random_state=0).fit(X, y)
    assert (elm.predict(X) == y).mean() == 1.0
    assert (elm.predict(Xt) == yt).mean() >= 0.95


def test_elm_primal_and_dual_solutions_agree():
    X, y = _blobs(n_per_class=10)  # 30 samples
    for h in (20, 60):  # n > h: primal system; n < h: dual system; both must equal the ridge solution
        elm = ELMClassifier(n_hidden=h, alpha=0.5, random_state=3).fit(X, y)
        H = elm._hidden(X)
        Y = np.where(y[:, None] == np.arange(3)[None], 1.0, -1.0)
        beta = np.linalg.lstsq(np.vstack([H, np.sqrt(0.5) * np.eye(h)]), np.vstack([Y, np.zeros((h, 3))]), rcond=None)[0]
        np.testing.assert_allclose(elm.output_weights_, beta, rtol=1e-6, atol=1e-8)


def test_elm_rejects_bad_hyper_parameters():
    X, y = _blobs(n_per_class=5)
    with pytest.raises(ValueError, match="alpha"):
        ELMClassifier(alpha=0).fit(X, y)
    with pytest.raises(ValueError, match="activation"):
        ELMClassifier(activation="gelu").fit(X, y)


@pytest.mark.parametrize("name", ["svm", "elm"])
def test_backends_standardise_and_search_a_grid(name):
    est = make_backend(name, n_features=5)
    assert isinstance(est, GridSearchCV)
    assert isinstance(est.estimator.steps[0][1], StandardScaler)
    n_configs = sum(int(np.prod([len(v) for v in g.values()])) for g in est.param_grid)
    assert n_configs >= 4
    if name == "svm":
        kernels = {k for g in est.param_grid for k in g["clf__kernel"]}
        assert kernels == {"rbf", "linear"}


class _Recorder(ClassifierMixin, BaseEstimator):
    """Remembers the ids (column 0) of every row it is fitted on."""

    seen: list = []

    def __init__(self, p=1):
        self.p = p

    def fit(self, X, y):
        _Recorder.seen.append(set(X[:, 0].astype(int)))
        self.classes_ = np.unique(y)
        self.majority_ = self.classes_[np.argmax(np.bincount(np.searchsorted(self.classes_, y)))]
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


def test_inner_cv_never_sees_the_outer_test_fold():
    X, y = _blobs(n_per_class=20)
    X = np.column_stack([np.arange(len(y)), X])  # column 0 = row id
    groups = np.arange(len(y)) % 4
    folds = [(f"g{g}", np.flatnonzero(groups != g), np.flatnonzero(groups == g)) for g in range(4)]
    for fold_groups in (None, groups):
        for name, train, test in folds:
            _Recorder.seen = []
            search = GridSearchCV(_Recorder(), {"p": [1, 2, 3]})
            res = nested_cv(X, y, [(name, train, test)], search, groups=fold_groups, inner_folds=3)
            assert len(_Recorder.seen) == 3 * 3 + 1  # 3 configs x 3 inner folds + refit
            for rows in _Recorder.seen:
                assert rows, "empty fit"
                assert not rows & set(test), "a fit saw outer-test rows"
            assert _Recorder.seen[-1] == set(train)  # the refit uses the whole training fold
            assert res[0].n_test == len(test)


def test_nested_cv_scores_on_the_test_fold_with_a_real_backend():
    X, y = _blobs(n_per_class=30, sep=4.0)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    folds = [("a", idx[:60], idx[60:]), ("b", idx[30:], idx[:30])]
    res = nested_cv(X, y, folds, "elm", grid="small")
    assert [r.fold for r in res] == ["a", "b"]
    assert all(r.accuracy > 0.9 for r in res)
    assert all("clf__alpha" in r.best_params for r in res)
    # labels shuffled within the training folds: nothing to learn, accuracy near chance
    y_bad = y.copy()
    y_bad[idx[:60]] = rng.permutation(y_bad[idx[:60]])
    assert nested_cv(X, y_bad, folds[:1], "svm", grid="small")[0].accuracy < 0.7


def test_overlapping_folds_are_rejected():
    X, y = _blobs(n_per_class=5)
    with pytest.raises(ValueError, match="overlap"):
        nested_cv(X, y, [("x", np.arange(10), np.arange(5, 15))], "elm", grid="small")
