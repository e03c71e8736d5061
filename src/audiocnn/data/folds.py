"""Evaluation protocols: predefined folds, a fixed split, stratified / grouped k-fold, leave-one-group-out.

Every function returns indices into ``manifest.items``. Validation data for early stopping and
model selection is always taken from the training indices of a fold (:func:`split_train_val`),
never from its test part.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    LeaveOneGroupOut,
    StratifiedGroupKFold,
    StratifiedKFold,
)

from audiocnn.data.manifest import Manifest

__all__ = ["describe_protocol", "make_folds", "split_train_val"]

Fold = tuple[str, np.ndarray, np.ndarray]


def _can_stratify(y: np.ndarray, k: int) -> bool:
    counts = Counter(y.tolist())
    return min(counts.values()) >= k


def _kfold(manifest: Manifest, idx: np.ndarray, k: int, seed: int, grouped: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Yield (train, test) positions of ``idx`` for k folds; grouped and/or stratified when possible."""
    y = manifest.stratify_labels()[idx]
    groups = manifest.groups()[idx] if grouped else None
    with warnings.catch_warnings():
        # "The least populated class has only n members": stratification is then approximate.
        warnings.simplefilter("ignore", UserWarning)
        if grouped:
            assert groups is not None
            n_groups = len(set(groups.tolist()))
            if n_groups < k:
                raise ValueError(f"{manifest.name}: {k} grouped folds need at least {k} groups, found {n_groups}")
            if len(set(y.tolist())) > 1:
                splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
                return list(splitter.split(np.zeros(len(idx)), y, groups))
            return list(GroupKFold(n_splits=k).split(np.zeros(len(idx)), y, groups))
        if len(set(y.tolist())) > 1 and max(Counter(y.tolist()).values()) >= k:
            splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
            return list(splitter.split(np.zeros(len(idx)), y))
        return list(KFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(idx))))


def make_folds(
    manifest: Manifest,
    k: int | str | None = None,
    *,
    seed: int = 0,
    grouped: bool | None = None,
) -> list[Fold]:
    """The folds to evaluate on: ``[(fold name, train_idx, test_idx), ...]``.

    * ``k is None`` and the manifest has predefined folds (ESC-50, US8K, a CSV ``fold`` column):
      one fold per fold id (``"fold1"``...), test = that fold, train = the others.
    * ``k is None`` and the data has a fixed split (a ``split`` column, GTZAN): one fold
      ``"test"`` whose test part is ``split == "test"``; train is the rest, including
      ``split == "val"`` rows, which :func:`split_train_val` then uses for validation.
    * ``k is None`` otherwise: 5-fold stratified cross-validation.
    * ``k`` an integer: stratified k-fold (shuffled with ``seed``); grouped with
      StratifiedGroupKFold when every item has a group and ``grouped`` is not False, so a group
      (speaker, source recording) never spans train and test. ``grouped=True`` without groups
      is an error. When ``k`` equals the number of predefined folds, those folds are used.
    * ``k == "logo"`` (or ``k`` equal to the number of groups, with groups): leave-one-group-out,
      one fold per group, named after it.
    """
    n = len(manifest.items)
    if n == 0:
        raise ValueError(f"{manifest.name}: no items to split")
    has_groups = manifest.has_groups()
    if grouped and not has_groups:
        raise ValueError(f"{manifest.name}: grouped folds requested but items have no group (set a group column)")
    use_groups = has_groups and grouped is not False
    all_idx = np.arange(n)

    if isinstance(k, str):
        if k.lower() not in ("logo", "leave-one-group-out", "leave_one_group_out"):
            try:
                k = int(k)
            except ValueError:
                raise ValueError(f"k must be an integer, None or 'logo', got {k!r}") from None
        else:
            if not has_groups:
                raise ValueError(f"{manifest.name}: leave-one-group-out needs a group for every item (set a group column)")
            return _logo(manifest)

    if k is None:
        if manifest.has_folds():
            return _predefined(manifest)
        if manifest.has_split():
            return [_fixed_split(manifest)]
        k = 5

    k = int(k)
    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    if k > n:
        raise ValueError(f"{manifest.name}: {k} folds need at least {k} items, found {n}")
    if manifest.has_folds() and k == len(manifest.fold_ids()):
        return _predefined(manifest)
    if use_groups and k == len(set(manifest.groups().tolist())):
        return _logo(manifest)
    splits = _kfold(manifest, all_idx, k, seed, use_groups)
    return [(f"fold{i + 1}", np.sort(tr), np.sort(te)) for i, (tr, te) in enumerate(splits)]


def _predefined(manifest: Manifest) -> list[Fold]:
    folds = np.array([it.fold for it in manifest.items], dtype=object)
    out = []
    for f in manifest.fold_ids():
        test = np.flatnonzero(folds == f)
        train = np.flatnonzero(folds != f)
        out.append((f"fold{f}", train, test))
    return out


def _fixed_split(manifest: Manifest) -> Fold:
    splits = np.array([it.split for it in manifest.items], dtype=object)
    test = np.flatnonzero(splits == "test")
    train = np.flatnonzero(splits != "test")
    if len(train) == 0:
        raise ValueError(f"{manifest.name}: every item is in the test split; nothing to train on")
    return ("test", train, test)


def _logo(manifest: Manifest) -> list[Fold]:
    groups = manifest.groups()
    out = []
    for tr, te in LeaveOneGroupOut().split(np.zeros(len(groups)), groups=groups):
        out.append((str(groups[te[0]]), np.sort(tr), np.sort(te)))
    return sorted(out, key=lambda f: f[0])


def split_train_val(
    manifest: Manifest,
    train_idx: np.ndarray,
    val_fraction: float = 0.1,
    *,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Split a fold's training indices into (train, validation); the test part is never touched.

    * Rows with ``split == "val"`` among ``train_idx`` are the validation set when present.
    * Else, with groups: whole groups are held out (StratifiedGroupKFold with about
      ``1 / val_fraction`` splits, at least 2 and at most the number of groups), so validation
      is group-independent like the test.
    * Else: a stratified random ``val_fraction`` (plain random when a class is too rare).

    ``val_fraction == 0`` returns ``(train_idx, empty)``.
    """
    train_idx = np.sort(np.asarray(train_idx, dtype=np.int64))
    empty = np.zeros(0, dtype=np.int64)
    if len(train_idx) == 0:
        return train_idx, empty
    splits = np.array([manifest.items[i].split for i in train_idx], dtype=object)
    if (splits == "val").any():
        return train_idx[splits != "val"], train_idx[splits == "val"]
    if val_fraction <= 0:
        return train_idx, empty
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if len(train_idx) < 2:
        return train_idx, empty
    sub = manifest.subset(train_idx)
    y = sub.stratify_labels()
    rng_k = max(2, int(round(1 / val_fraction)))
    if sub.has_groups() and len(set(sub.groups().tolist())) >= 2:
        groups = sub.groups()
        k = min(rng_k, len(set(groups.tolist())))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            tr, va = next(iter(splitter.split(np.zeros(len(y)), y, groups)))
        return train_idx[np.sort(tr)], train_idx[np.sort(va)]
    n_val = max(1, int(round(val_fraction * len(train_idx))))
    rng = np.random.default_rng(seed)
    counts = Counter(y.tolist())
    if len(counts) > 1 and min(counts.values()) >= 2 and n_val >= len(counts):
        from sklearn.model_selection import StratifiedShuffleSplit

        sss = StratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
        tr, va = next(iter(sss.split(np.zeros(len(y)), y)))
    else:
        perm = rng.permutation(len(train_idx))
        va, tr = perm[:n_val], perm[n_val:]
    return train_idx[np.sort(tr)], train_idx[np.sort(va)]


def describe_protocol(manifest: Manifest, k: int | str | None = None, *, grouped: bool | None = None) -> str:
    """One line saying which protocol :func:`make_folds` will use (for reports)."""
    has_groups = manifest.has_groups() and grouped is not False
    if isinstance(k, str) and k.lower().startswith("l"):
        return f"leave-one-group-out ({len(set(manifest.groups().tolist()))} groups)"
    if k is None and manifest.has_folds():
        return f"predefined folds ({len(manifest.fold_ids())})"
    if k is None and manifest.has_split():
        return "fixed train/val/test split"
    kk = 5 if k is None else int(k)
    if manifest.has_folds() and kk == len(manifest.fold_ids()):
        return f"predefined folds ({kk})"
    if has_groups and kk == len(set(manifest.groups().tolist())):
        return f"leave-one-group-out ({kk} groups)"
    return f"{kk}-fold stratified{' grouped' if has_groups else ''} cross-validation"
