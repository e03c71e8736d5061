"""The late-fused statistics classifier of the compact CNNs (``stats_head``), fitted after training.

A CNN trained from scratch on a few hundred clips and a linear classifier on MFCC statistics often
make different mistakes, and a weighted average of their probabilities is then better than either
(``docs/training.md``). :func:`fit_stats_head` fits the second classifier on the windows the
evaluation will score, from the training part of a fold only, and stores it in the model's
buffers, so the saved checkpoint carries the fused model and every command that loads it
(``tag``, ``evaluate``, ``export``...) gives the fused probabilities. :func:`fit_fused_head`
also chooses the head's share on the validation split when there is one (0 when the head does
not help), else uses an equal share.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from audiocnn.audio import Windowing

__all__ = ["HEAD_C_GRID", "HEAD_FOURIER_C_GRID", "HEAD_GAMMA_GRID", "HEAD_SHARE", "SHARE_GRID", "choose_share", "fit_fused_head", "fit_stats_head", "has_stats_head"]

log = logging.getLogger(__name__)

# inverse regularisation strengths tried by the inner cross-validation (grouped by file)
HEAD_C_GRID = (0.01, 0.1, 1.0, 10.0)
# with random Fourier features (``head_features``): their strengths, and the RBF kernel's
# widths gamma in units of 1 / dim
HEAD_FOURIER_C_GRID = (0.1, 1.0, 10.0, 100.0)
HEAD_GAMMA_GRID = (0.25, 1.0)
_MAX_ITER = 3000
# the head's share of the fused probabilities without a validation split: an equal-weight average
HEAD_SHARE = 0.5
# the shares a validation split chooses from (0: the CNN alone)
SHARE_GRID = (0.0, 0.25, 0.5)
# the shares the validation table reports (the choice is among SHARE_GRID)
TABLE_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
_INNER_FOLDS = 3


def has_stats_head(model: torch.nn.Module) -> bool:
    """Whether ``model`` has a ``stats_head`` classifier to fit (:class:`~audiocnn.models.compact.CompactCnn`)."""
    return bool(getattr(model, "stats_head", 0))


def _features(model, waves: list[np.ndarray], windowing: Windowing, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(n_windows, dim)`` head statistics of every window of ``waves`` and the wave each came from."""
    windows, owners = [], []
    for i, x in enumerate(waves):
        w = [chunk for _, chunk in windowing.split(x, model.sample_rate, model.info.min_samples)]
        windows.extend(w)
        owners.extend([i] * len(w))
    feats = []
    with torch.no_grad():
        s = 0
        while s < len(windows):  # a batch holds windows of one length (unpadded short files differ)
            e = s + 1
            while e < min(len(windows), s + batch_size) and windows[e].shape[0] == windows[s].shape[0]:
                e += 1
            batch = torch.from_numpy(np.stack(windows[s:e]).astype(np.float32, copy=False))
            feats.append(model.head_statistics(batch).double().numpy())
            s = e
    return np.concatenate(feats), np.asarray(owners)


def _fourier_basis(dim: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A standard-normal ``(dim, n)`` projection and ``(n,)`` phases uniform in [0, 2 pi)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((dim, n)), rng.uniform(0.0, 2.0 * np.pi, n)


def _fourier(Z: np.ndarray, projection: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Random Fourier features of ``Z`` (as :meth:`CompactCnn.head_classify`)."""
    return np.cos(Z @ projection + phase) * np.sqrt(2.0 / projection.shape[1])


def _choose(candidates: list[tuple], default: tuple, features, y: np.ndarray, groups: np.ndarray, seed: int):
    """The ``(gamma, C)`` of ``candidates`` with the lowest inner log-loss (3 folds grouped by
    file) and that log-loss; ``features(gamma)`` gives the classifier's input. Returns
    ``(default, None)`` when some class has too few files for the inner folds.

    Log-loss, not accuracy: the head's probabilities are averaged with the CNN's, so they must be
    calibrated; the most accurate C is often an over-confident one."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold

    files_per_class = [len(np.unique(groups[y == c])) for c in np.unique(y)]
    if min(files_per_class) < _INNER_FOLDS:
        return default, None
    splits = list(StratifiedGroupKFold(_INNER_FOLDS, shuffle=True, random_state=seed).split(y, y, groups))
    totals = dict.fromkeys(candidates, 0.0)
    by_gamma: dict = {}
    for gamma, c in candidates:
        by_gamma.setdefault(gamma, []).append(c)
    for gamma, cs in by_gamma.items():
        F = features(gamma)
        for tr, va in splits:
            # one path of increasing C per inner split, each fit starting from the previous
            # solution: the same optima (the problem is strictly convex), far fewer iterations
            clf = LogisticRegression(max_iter=_MAX_ITER, warm_start=True)
            for c in sorted(cs):
                clf.set_params(C=c).fit(F[tr], y[tr])
                p = clf.predict_proba(F[va])
                col = {k: j for j, k in enumerate(clf.classes_)}
                totals[(gamma, c)] -= sum(np.log(max(p[i, col[t]], 1e-12)) if t in col else np.log(1e-12) for i, t in enumerate(y[va]))
    losses = [totals[k] / len(y) for k in candidates]
    best = int(np.argmin(losses))
    return candidates[best], float(losses[best])


def fit_stats_head(
    model: torch.nn.Module,
    waves: list[np.ndarray],
    labels: np.ndarray,
    windowing: Windowing,
    *,
    seed: int = 0,
    share: float = HEAD_SHARE,
    batch_size: int = 32,
) -> dict:
    """Fit ``model``'s ``stats_head`` classifier and turn the fusion on.

    Args:
        model: a model with ``stats_head > 0`` (:func:`has_stats_head`), in eval mode.
        waves: the training files' waveforms at ``model.sample_rate`` (1-D float arrays); they
            are cut into ``windowing``'s windows, as the evaluation cuts the test files.
        labels: ``(len(waves),)`` class indices.
        windowing: the model's windowing (its bundle's).
        seed: the inner cross-validation's shuffling.
        share: the head's share of the fused probabilities.

    Standardises the statistics (mean and standard deviation over the training windows), fits a
    multinomial logistic regression with C chosen by the log-loss of a 3-fold inner
    cross-validation grouped by file (:data:`HEAD_C_GRID`), and writes ``head_mean``, ``head_scale``, ``head_weight``,
    ``head_bias`` and ``head_share``. Classes absent from ``labels`` get a head probability of
    about zero.

    With ``model.head_features`` > 0 the regression reads that many random Fourier features of
    the standardised statistics (``head_projection``, ``head_phase``; an RBF kernel's
    approximation), the kernel width chosen with C (:data:`HEAD_GAMMA_GRID`,
    :data:`HEAD_FOURIER_C_GRID`) by the same inner log-loss.

    Returns ``{"C", "gamma", "inner_log_loss", "windows", "seconds"}`` (``gamma`` None for a
    linear head).
    """
    if not has_stats_head(model):
        raise ValueError("the model has no stats_head classifier to fit")
    if len(waves) != len(labels) or not len(waves):
        raise ValueError(f"need one label per waveform and at least one waveform, got {len(waves)} and {len(labels)}")
    t0 = time.perf_counter()
    X, owners = _features(model, waves, windowing, batch_size)
    return _fit(model, X, owners, np.asarray(labels, dtype=np.int64), seed=seed, share=share, t0=t0)


def _fit(model, X: np.ndarray, owners: np.ndarray, labels: np.ndarray, *, seed: int, share: float, t0: float,
         params: tuple | None = None) -> dict:
    """:func:`fit_stats_head` on the window statistics ``X`` (``(n_windows, dim)``) of the waves
    ``owners`` (``(n_windows,)`` indices into ``labels``); with ``params`` (an earlier fit's
    ``(gamma, C)``) the inner cross-validation is skipped and they are used.

    The fits run on one BLAS/OpenMP thread: their problems are small (hundreds to a few thousand
    windows), and threads cost more than they give beside PyTorch's (the whole fit took 14.4 s
    with two threads and 1.3 s with one on instruments10's fold, 20.7 s and 5.6 s on FSDD's, the
    same choice; ``benchmarks/stats_head_speed.py``)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _fit_one_thread(model, X, owners, labels, seed=seed, share=share, t0=t0, params=params)


def _fit_one_thread(model, X: np.ndarray, owners: np.ndarray, labels: np.ndarray, *, seed: int, share: float,
                    t0: float, params: tuple | None) -> dict:
    from sklearn.linear_model import LogisticRegression

    y = labels[owners]
    mean = X.mean(axis=0)
    scale = np.maximum(X.std(axis=0), 1e-6)
    Z = (X - mean) / scale
    n_features = int(getattr(model, "head_features", 0))
    if n_features:  # gamma: the RBF kernel's width, in units of 1 / dim (sklearn's "scale")
        base, phase = _fourier_basis(Z.shape[1], n_features, seed)
        candidates, default = [(g, c) for g in HEAD_GAMMA_GRID for c in HEAD_FOURIER_C_GRID], (1.0, 10.0)

        def projection(gamma):
            return base * np.sqrt(2.0 * gamma / Z.shape[1])

        def features(gamma):
            return _fourier(Z, projection(gamma), phase)
    else:
        candidates, default = [(None, c) for c in HEAD_C_GRID], (None, 1.0)

        def features(gamma):
            return Z
    n_classes = int(model.head_weight.shape[0])
    weight = np.zeros((n_classes, n_features or X.shape[1]))
    bias = np.full(n_classes, -30.0)  # classes the training part does not have
    present = np.unique(y)
    (gamma, c), inner = default, None
    if len(present) == 1:  # one class: the head always says it
        c = None
        bias[present[0]] = 0.0
    else:
        if params is None:
            (gamma, c), inner = _choose(candidates, default, features, y, owners, seed)
        else:
            gamma, c = params
        clf = LogisticRegression(C=c, max_iter=_MAX_ITER).fit(features(gamma), y)
        coef, intercept = clf.coef_, clf.intercept_
        if len(clf.classes_) == 2:  # sklearn keeps one row for two classes: logits (0, z)
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.array([0.0, intercept[0]])
        weight[clf.classes_] = coef
        bias[clf.classes_] = intercept
    as_buffer = model.head_mean
    with torch.no_grad():
        model.head_mean.copy_(torch.as_tensor(mean, dtype=as_buffer.dtype))
        model.head_scale.copy_(torch.as_tensor(scale, dtype=as_buffer.dtype))
        model.head_weight.copy_(torch.as_tensor(weight, dtype=as_buffer.dtype))
        model.head_bias.copy_(torch.as_tensor(bias, dtype=as_buffer.dtype))
        model.head_share.fill_(float(share))
        if n_features:
            model.head_projection.copy_(torch.as_tensor(projection(gamma), dtype=as_buffer.dtype))
            model.head_phase.copy_(torch.as_tensor(phase, dtype=as_buffer.dtype))
    info = {"C": c, "gamma": gamma, "inner_log_loss": inner, "windows": int(len(y)), "seconds": float(time.perf_counter() - t0)}
    log.info("stats head: %d windows, %sC = %s, inner log-loss %s (%.1f s)", info["windows"],
             f"{n_features} Fourier features of width {gamma:g}/dim, " if n_features else "", c,
             "n/a" if inner is None else f"{inner:.3f}", info["seconds"])
    return info


def _cnn_probabilities(model, waves: list[np.ndarray], windowing: Windowing) -> np.ndarray:
    """The CNN's probabilities ``(len(waves), classes)`` without the head: its window
    probabilities combined per wave by the windowing's aggregation."""
    share = float(model.head_share)
    out = []
    try:
        model.head_share.fill_(0.0)
        with torch.no_grad():
            for x in waves:
                w = np.stack([chunk for _, chunk in windowing.split(x, model.sample_rate, model.info.min_samples)])
                p = torch.softmax(model(torch.from_numpy(w.astype(np.float32, copy=False)))["logits"], -1).double().numpy()
                out.append(_pool(p, windowing))
    finally:
        model.head_share.fill_(share)
    return np.array(out)


def _head_probabilities(model, X: np.ndarray, owners: np.ndarray, n: int, windowing: Windowing) -> np.ndarray:
    """The fitted head's probabilities ``(n, classes)`` from the window statistics ``X`` of the
    waves ``owners``, combined per wave by the windowing's aggregation (as :meth:`head_logits`)."""
    with torch.no_grad():
        p = torch.softmax(model.head_classify(torch.as_tensor(X, dtype=model.head_mean.dtype)), -1).double().numpy()
    return np.array([_pool(p[owners == i], windowing) for i in range(n)])


def _pool(p: np.ndarray, windowing: Windowing) -> np.ndarray:
    """Window probabilities ``(windows, classes)`` -> one row, by the windowing's aggregation."""
    return p.max(axis=0) if windowing.aggregate == "max" else p.mean(axis=0)


def choose_share(cnn: np.ndarray, head: np.ndarray, labels: np.ndarray, grid=SHARE_GRID) -> tuple[float, list[dict]]:
    """The head's share of the fused probabilities, chosen on a validation split: the share of
    ``grid`` with the best validation accuracy of ``(1 - s) cnn + s head``, ties broken by the
    lower log-loss (so a CNN the head cannot improve keeps share 0).

    Args:
        cnn, head: ``(n, classes)`` validation probabilities of the CNN and of the head (the
            head fitted without these files).
        labels: ``(n,)`` class indices.

    Returns ``(share, [{"share", "accuracy", "log_loss"}, ...])``, the table over ``grid`` and
    :data:`TABLE_GRID`.
    """
    labels = np.asarray(labels, dtype=np.int64)
    rows = []
    for s in sorted(set(grid) | set(TABLE_GRID)):
        p = (1.0 - s) * cnn + s * head
        rows.append({
            "share": float(s),
            "accuracy": float(np.mean(p.argmax(1) == labels)),
            "log_loss": float(-np.mean(np.log(np.maximum(p[np.arange(len(labels)), labels], 1e-12)))),
        })
    best = max((r for r in rows if r["share"] in grid), key=lambda r: (r["accuracy"], -r["log_loss"]))
    return best["share"], rows


def fit_fused_head(
    model: torch.nn.Module,
    train_waves: list[np.ndarray],
    train_labels: np.ndarray,
    val_waves: list[np.ndarray],
    val_labels: np.ndarray,
    windowing: Windowing,
    *,
    seed: int = 0,
) -> dict:
    """Fit the ``stats_head`` of a trained ``model`` and choose its share by validation.

    With validation files, the head is first fitted on the training files alone, the share is
    chosen on the validation files (:func:`choose_share`; the CNN's epoch was chosen on them as
    well, but neither classifier was fitted on them), then the head is fitted again on training
    and validation files together, with that share and the kernel width and C the training
    part's inner cross-validation chose (one inner cross-validation per fold, not two). Without
    validation files the share is :data:`HEAD_SHARE`.

    Returns :func:`fit_stats_head`'s record plus ``"share"`` and ``"validation"`` (the
    :func:`choose_share` table, ``[]`` without validation files).
    """
    if not has_stats_head(model):
        raise ValueError("the model has no stats_head classifier to fit")
    t0 = time.perf_counter()
    labels = np.concatenate([np.asarray(train_labels, dtype=np.int64), np.asarray(val_labels, dtype=np.int64)])
    n_train = len(train_waves)
    # the statistics of every window, once: the head is fitted twice on them
    X, owners = _features(model, list(train_waves) + list(val_waves), windowing, 32)
    share, table = HEAD_SHARE, []
    if len(val_waves):
        fit = owners < n_train
        first = _fit(model, X[fit], owners[fit], labels, seed=seed, share=0.0, t0=t0)
        head = _head_probabilities(model, X[~fit], owners[~fit] - n_train, len(val_waves), windowing)
        share, table = choose_share(_cnn_probabilities(model, val_waves, windowing), head, labels[n_train:])
        log.info("stats head share chosen on %d validation files: %s (validation accuracy %s)", len(val_waves), share,
                 ", ".join(f"{r['share']:g}: {r['accuracy']:.3f}" for r in table))
    if len(val_waves) and first["inner_log_loss"] is not None:  # the width and C the training part chose, kept
        info = _fit(model, X, owners, labels, seed=seed, share=share, t0=t0, params=(first["gamma"], first["C"]))
        info["inner_log_loss"] = first["inner_log_loss"]
    else:
        info = _fit(model, X, owners, labels, seed=seed, share=share, t0=t0)
    return {**info, "share": float(share), "validation": table}
