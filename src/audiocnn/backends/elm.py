"""Extreme learning machine: a random hidden layer and closed-form ridge output weights.

Huang et al., "Extreme learning machine: theory and applications", Neurocomputing 2006. Follows
the scikit-learn estimator contract (``__init__`` stores arguments, ``fit`` returns ``self``,
learned attributes end in ``_``), so it works in ``Pipeline``, ``GridSearchCV`` and ``clone``.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["ELMClassifier"]

_ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
}


class ELMClassifier(ClassifierMixin, BaseEstimator):
    """Single-hidden-layer network whose hidden weights are random and never trained.

    ``H = act(X W + b)`` with ``W ~ N(0, 1/n_features)``, ``b ~ N(0, 1)``; output weights
    ``beta = argmin ||H beta - Y||^2 + alpha ||beta||^2`` (one-hot ``Y`` in {-1, +1}), solved in
    closed form (primal or dual, whichever system is smaller). Predict ``argmax(H beta)``.

    Args:
        n_hidden: hidden units.
        alpha: ridge regularisation (> 0).
        activation: ``"relu"``, ``"tanh"`` or ``"sigmoid"``.
        random_state: seed of the hidden layer.

    Attributes:
        classes_, n_features_in_, hidden_weights_ ``(n_features, n_hidden)``, hidden_bias_,
        output_weights_ ``(n_hidden, n_outputs)``.
    """

    def __init__(self, n_hidden: int = 1000, alpha: float = 1.0, activation: str = "relu", random_state=None):
        self.n_hidden = n_hidden
        self.alpha = alpha
        self.activation = activation
        self.random_state = random_state

    def _hidden(self, X: np.ndarray) -> np.ndarray:
        return _ACTIVATIONS[self.activation](X @ self.hidden_weights_ + self.hidden_bias_)

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {self.activation!r}")
        if not (isinstance(self.n_hidden, (int, np.integer)) and self.n_hidden >= 1):
            raise ValueError(f"n_hidden must be a positive integer, got {self.n_hidden!r}")
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha!r}")
        self.binarizer_ = LabelBinarizer(neg_label=-1, pos_label=1)
        Y = self.binarizer_.fit_transform(y).astype(np.float64)
        self.classes_ = self.binarizer_.classes_
        if Y.shape[1] == 1 and len(self.classes_) == 1:
            Y = np.ones_like(Y)
        rng = check_random_state(self.random_state)
        n_features = X.shape[1]
        self.hidden_weights_ = rng.standard_normal((n_features, self.n_hidden)) / np.sqrt(n_features)
        self.hidden_bias_ = rng.standard_normal(self.n_hidden)
        H = self._hidden(X)
        n, h = H.shape
        if n >= h:  # primal: (H^T H + a I) beta = H^T Y
            self.output_weights_ = linalg.solve(H.T @ H + self.alpha * np.eye(h), H.T @ Y, assume_a="pos")
        else:  # dual: beta = H^T (H H^T + a I)^-1 Y
            self.output_weights_ = H.T @ linalg.solve(H @ H.T + self.alpha * np.eye(n), Y, assume_a="pos")
        return self

    def decision_function(self, X) -> np.ndarray:
        """``(n_samples,)`` for two classes (positive = ``classes_[1]``), else ``(n_samples, n_classes)``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        scores = self._hidden(X) @ self.output_weights_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X) -> np.ndarray:
        scores = self.decision_function(X)
        if len(self.classes_) == 1:
            return np.full(scores.shape[0], self.classes_[0])
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]
