"""Evaluation protocols: no test leakage, groups never split, stratification, validation from training only."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from audiocnn.data import Item, Manifest, make_folds, split_train_val
from audiocnn.data.folds import describe_protocol


def manifest(labels, groups=None, folds=None, splits=None, multilabel=False):
    n = len(labels)
    items = tuple(
        Item(
            path=Path(f"/x/{i}.wav"),
            labels=tuple(labels[i]) if multilabel else (labels[i],),
            group=None if groups is None else groups[i],
            fold=None if folds is None else folds[i],
            split=None if splits is None else splits[i],
        )
        for i in range(n)
    )
    classes = sorted({lab for it in items for lab in it.labels})
    return Manifest(items=items, classes=tuple(classes), multilabel=multilabel, name="t", root=Path("/x"))


def check_partition(m, folds, n_expected_folds):
    assert len(folds) == n_expected_folds
    seen_test = np.concatenate([te for _, _, te in folds])
    assert sorted(seen_test.tolist()) == list(range(len(m)))  # every item tested exactly once
    for _, tr, te in folds:
        assert not set(tr) & set(te)
        assert len(tr) + len(te) == len(m)


def test_stratified_kfold():
    rng = np.random.default_rng(0)
    labels = [str(c) for c in rng.permutation(np.repeat([0, 1, 2], [40, 25, 15]))]
    m = manifest(labels)
    folds = make_folds(m, 5, seed=3)
    check_partition(m, folds, 5)
    total = Counter(labels)
    for _, _, te in folds:
        counts = Counter(labels[i] for i in te)
        for c, n in total.items():
            assert abs(counts[c] - n / 5) <= 1  # each class spread evenly over the folds
    # Seeded: same seed, same folds; another seed, other folds.
    again = make_folds(m, 5, seed=3)
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(folds, again))
    other = make_folds(m, 5, seed=4)
    assert not all(np.array_equal(a[2], b[2]) for a, b in zip(folds, other))
    assert make_folds(m)[0][0] == "fold1" and len(make_folds(m)) == 5  # default without folds: 5


def test_grouped_kfold_never_splits_a_group():
    rng = np.random.default_rng(1)
    groups = [f"spk{g}" for g in rng.integers(0, 12, 150)]
    labels = [str(c) for c in rng.integers(0, 3, 150)]
    m = manifest(labels, groups=groups)
    folds = make_folds(m, 4, seed=0)
    check_partition(m, folds, 4)
    for _, tr, te in folds:
        assert not {groups[i] for i in tr} & {groups[i] for i in te}
    # grouped=False ignores the groups (and then they do get split).
    ungrouped = make_folds(m, 4, grouped=False)
    assert any({groups[i] for i in tr} & {groups[i] for i in te} for _, tr, te in ungrouped)
    with pytest.raises(ValueError, match="groups"):
        make_folds(m, 13)
    with pytest.raises(ValueError, match="group"):
        make_folds(manifest(labels), 3, grouped=True)


def test_leave_one_group_out():
    groups = ["a"] * 5 + ["b"] * 3 + ["c"] * 4
    labels = ["x", "y"] * 6
    m = manifest(labels, groups=groups)
    for k in ("logo", 3):
        folds = make_folds(m, k)
        check_partition(m, folds, 3)
        assert [f[0] for f in folds] == ["a", "b", "c"]
        for name, tr, te in folds:
            assert {groups[i] for i in te} == {name} and name not in {groups[i] for i in tr}
    assert describe_protocol(m, "logo") == "leave-one-group-out (3 groups)"
    with pytest.raises(ValueError, match="group"):
        make_folds(manifest(labels), "logo")


def test_predefined_folds_and_fixed_split():
    labels = ["x", "y"] * 6
    folds_col = ["1", "2", "10"] * 4
    m = manifest(labels, folds=folds_col)
    folds = make_folds(m)
    assert [f[0] for f in folds] == ["fold1", "fold2", "fold10"]
    check_partition(m, folds, 3)
    for name, tr, te in folds:
        assert {folds_col[i] for i in te} == {name[4:]}
    assert [f[0] for f in make_folds(m, 3)] == ["fold1", "fold2", "fold10"]  # k == predefined count

    splits = ["train"] * 6 + ["val"] * 2 + ["test"] * 4
    s = manifest(labels, splits=splits)
    (name, tr, te), = make_folds(s)
    assert name == "test" and te.tolist() == [8, 9, 10, 11] and tr.tolist() == list(range(8))
    # Validation from a fixed split uses its val rows, never test rows.
    a, v = split_train_val(s, tr)
    assert v.tolist() == [6, 7] and a.tolist() == list(range(6))
    assert describe_protocol(s) == "fixed train/val/test split"
    assert make_folds(s, 3)[0][0] == "fold1"  # explicit k overrides the split


def test_split_train_val_takes_validation_from_training_only():
    rng = np.random.default_rng(2)
    labels = [str(c) for c in rng.integers(0, 4, 200)]
    m = manifest(labels)
    for _, tr, te in make_folds(m, 5):
        a, v = split_train_val(m, tr, 0.2, seed=1)
        assert sorted(np.concatenate([a, v]).tolist()) == sorted(tr.tolist())
        assert not set(v) & set(te) and not set(a) & set(v)
        assert abs(len(v) - 0.2 * len(tr)) <= 1
        # stratified: class shares in validation close to training's
        for c in "0123":
            share_tr = np.mean([labels[i] == c for i in tr])
            share_v = np.mean([labels[i] == c for i in v])
            assert abs(share_tr - share_v) < 0.1
    a, v = split_train_val(m, np.arange(50), 0.0)
    assert len(v) == 0 and len(a) == 50


def test_split_train_val_holds_out_whole_groups():
    groups = [f"s{i % 6}" for i in range(120)]
    labels = [str(i % 3) for i in range(120)]
    m = manifest(labels, groups=groups)
    for name, tr, te in make_folds(m, "logo"):
        a, v = split_train_val(m, tr, 0.1)
        assert len(v) > 0
        gv, ga = {groups[i] for i in v}, {groups[i] for i in a}
        assert not gv & ga and name not in gv | ga


def test_multilabel_folds():
    rng = np.random.default_rng(3)
    labels = [[c for c in "abc" if rng.random() < 0.4] for _ in range(60)]
    m = manifest(labels, multilabel=True)
    check_partition(m, make_folds(m, 3), 3)
