"""BalancedSampler class frequencies; the synthetic dataset's determinism and layout."""

import csv
import hashlib
from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from audiocnn.data import (
    SYNTHETIC_CLASSES,
    BalancedSampler,
    load_manifest,
    make_folds,
    make_synthetic_dataset,
    validate_manifest,
)


def imbalanced_multilabel(seed=0):
    """100 items: class 0 on 70 items, class 1 on 20, class 2 on 5, class 3 on none; some overlap."""
    rng = np.random.default_rng(seed)
    t = np.zeros((100, 4), dtype=np.float32)
    t[rng.permutation(100)[:70], 0] = 1
    t[rng.permutation(100)[:20], 1] = 1
    t[rng.permutation(100)[:5], 2] = 1
    return t


def test_balanced_sampler_visits_classes_equally():
    t = imbalanced_multilabel()
    rounds = 40
    s = BalancedSampler(t, num_samples=3 * rounds, seed=0)
    idx = list(s)
    assert len(idx) == len(s) == 120
    # Draw k was made through class order[k % 3]; every block of 3 draws has one per class, so each
    # class's items are drawn exactly `rounds` times (counting a draw for each class it carries is
    # an upper bound, so check the rarest class, which only the class-2 visits can produce often).
    for b in range(rounds):
        block = idx[3 * b: 3 * b + 3]
        covered = set()
        for i in block:
            covered |= set(np.flatnonzero(t[i]).tolist())
        assert {0, 1, 2} <= covered
    rare = set(np.flatnonzero(t[:, 2]).tolist())
    n_rare = sum(i in rare for i in idx)
    assert n_rare >= rounds  # ~1/3 of the draws, against 5% under uniform sampling
    # Within class 2 (5 items), each item is used before any repeats: counts differ by at most 1
    # over the class-2 visits.
    counts = Counter(i for i in idx if i in rare)
    assert max(counts.values()) - min(counts.values()) <= 2
    assert 3 not in {c for i in idx for c in np.flatnonzero(t[i])}  # an empty class is skipped


def test_balanced_sampler_single_label_and_determinism():
    y = np.array([0] * 90 + [1] * 9 + [2] * 1)
    s = BalancedSampler(y, num_samples=300, seed=5)
    draws = list(s)
    freq = Counter(int(y[i]) for i in draws)
    assert freq == {0: 100, 1: 100, 2: 100}
    # The epoch advances on each iteration (new order); the same (seed, epoch) repeats exactly.
    second = list(s)
    assert second != draws
    s2 = BalancedSampler(y, num_samples=300, seed=5)
    assert list(s2) == draws
    s2.set_epoch(1)
    assert list(s2) == second
    assert list(BalancedSampler(y, num_samples=300, seed=6)) != draws
    assert len(BalancedSampler(y)) == 100
    with pytest.raises(ValueError):
        BalancedSampler(np.zeros((5, 3)))


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "audio").glob("*.wav"))}


def test_synthetic_dataset_is_deterministic(tmp_path):
    a = make_synthetic_dataset(tmp_path / "a", clips_per_class=3, seconds=0.5, folds=3)
    b = make_synthetic_dataset(tmp_path / "b", clips_per_class=3, seconds=0.5, folds=3)
    c = make_synthetic_dataset(tmp_path / "c", clips_per_class=3, seconds=0.5, folds=3, seed=1)
    da, db, dc = _digest(a.parent), _digest(b.parent), _digest(c.parent)
    assert len(da) == 30 and da == db
    assert a.read_bytes() == b.read_bytes()
    assert all(da[k] != dc[k] for k in da)  # another seed changes every clip
    # Clips do not depend on how many are generated: clip 0..2 of a 4-per-class set are the same.
    d = make_synthetic_dataset(tmp_path / "d", clips_per_class=4, seconds=0.5, folds=2)
    dd = _digest(d.parent)
    assert all(dd[k] == da[k] for k in da)
    # A complete folder made with the same arguments is reused untouched.
    mtimes = {p: p.stat().st_mtime_ns for p in (a.parent / "audio").glob("*.wav")}
    assert make_synthetic_dataset(tmp_path / "a", clips_per_class=3, seconds=0.5, folds=3) == a
    assert mtimes == {p: p.stat().st_mtime_ns for p in (a.parent / "audio").glob("*.wav")}


def test_synthetic_dataset_layout(tmp_path):
    path = make_synthetic_dataset(tmp_path / "syn", clips_per_class=5, sample_rate=8000, seconds=1.0, folds=5)
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["filename", "label", "fold"] and len(rows) == 50
    m = validate_manifest(load_manifest(path))
    assert len(SYNTHETIC_CLASSES) == 10 and m.classes == tuple(sorted(SYNTHETIC_CLASSES))
    assert m.summary()["per_fold"] == {str(k): 10 for k in range(1, 6)}
    for _, _, te in make_folds(m):  # every fold holds one clip of every class
        assert sorted(m.items[i].labels[0] for i in te) == sorted(SYNTHETIC_CLASSES)
    levels = []
    for it in m.items:
        x, sr = sf.read(str(it.path), dtype="float32")
        assert sr == 8000 and x.shape == (8000,) and np.abs(x).max() < 1.0
        levels.append(20 * np.log10(np.sqrt(np.mean(x**2))))
    assert np.ptp(levels) > 8  # levels vary from clip to clip
    with pytest.raises(ValueError):
        make_synthetic_dataset(tmp_path / "bad", clips_per_class=2, folds=5)
