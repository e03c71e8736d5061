"""CSV / folder manifests and bad-row reporting."""

import csv
from pathlib import Path

import numpy as np
import pytest
from datafakes import empty_wav, nan_wav, not_audio, wav

from audiocnn.data import (
    AudioCache,
    BadDataError,
    BadItem,
    apply_bad,
    load_manifest,
    validate_manifest,
)


def write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_csv_manifest_columns(tmp_path):
    for name in ("a.wav", "sub/b.wav", "c.wav"):
        wav(tmp_path / name)
    p = write_csv(tmp_path / "meta.csv", ["filename", "label", "fold", "speaker", "note"],
                  [["a.wav", "dog", "1", "s1", "x"], ["sub/b.wav", "cat", "2", "s2", "y"], ["c.wav", "dog", "2", "s1", ""]])
    m = load_manifest(p)
    assert m.name == "csv:meta.csv"
    assert m.classes == ("cat", "dog")
    assert not m.multilabel
    assert [it.path for it in m.items] == [tmp_path / "a.wav", tmp_path / "sub" / "b.wav", tmp_path / "c.wav"]
    assert all(it.path.is_absolute() for it in m.items)
    assert [it.fold for it in m.items] == ["1", "2", "2"]
    assert [it.group for it in m.items] == ["s1", "s2", "s1"]  # 'speaker' picked as the group column
    assert m.items[0].extra == {"note": "x"}
    assert m.has_folds() and m.fold_ids() == ["1", "2"]
    np.testing.assert_array_equal(m.label_indices(), [1, 0, 1])
    np.testing.assert_array_equal(m.targets(), [[0, 1], [1, 0], [0, 1]])
    s = m.summary()
    assert s["per_class"] == {"cat": 1, "dog": 2} and s["per_fold"] == {"1": 1, "2": 2} and s["groups"] == 2
    sub = m.subset([2, 0])
    assert [it.path.name for it in sub.items] == ["c.wav", "a.wav"] and sub.classes == m.classes
    assert validate_manifest(m) is m


def test_csv_split_and_explicit_group_column(tmp_path):
    for i in range(4):
        wav(tmp_path / f"{i}.wav")
    p = write_csv(tmp_path / "m.csv", ["filename", "label", "split", "session"],
                  [["0.wav", "a", "train", "x"], ["1.wav", "b", "valid", "y"], ["2.wav", "a", "TEST", "z"], ["3.wav", "b", "eval", "z"]])
    m = load_manifest(p, group_column="session")
    assert [it.split for it in m.items] == ["train", "val", "test", "test"]
    assert [it.group for it in m.items] == ["x", "y", "z", "z"]
    assert m.has_split() and not m.has_folds()
    with pytest.raises(ValueError, match="group column 'nope'"):
        load_manifest(p, group_column="nope")


def test_csv_multilabel(tmp_path):
    for i in range(3):
        wav(tmp_path / f"{i}.wav")
    p = write_csv(tmp_path / "tags.csv", ["filename", "labels"],
                  [["0.wav", "speech;music"], ["1.wav", "music"], ["2.wav", ""]])
    m = load_manifest(p)
    assert m.multilabel and m.classes == ("music", "speech")
    np.testing.assert_array_equal(m.targets(), [[1, 1], [1, 0], [0, 0]])
    with pytest.raises(ValueError):
        m.label_indices()
    validate_manifest(m)  # an item with no tag is legal in tagging data


def test_csv_missing_columns_is_a_clear_error(tmp_path):
    p = write_csv(tmp_path / "m.csv", ["file_name", "label"], [["a.wav", "x"]])
    with pytest.raises(ValueError, match="filename"):
        load_manifest(p, "csv")
    p = write_csv(tmp_path / "n.csv", ["filename", "class"], [["a.wav", "x"]])
    with pytest.raises(ValueError, match="'label'"):
        load_manifest(p, "csv")
    assert load_manifest(p, "csv", label_column="class").classes == ("x",)
    with pytest.raises(FileNotFoundError):
        load_manifest(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="unknown dataset"):
        load_manifest(p, "imagenet")


def test_folder_manifest(tmp_path):
    root = tmp_path / "d"
    wav(root / "dog" / "1.wav")
    wav(root / "dog" / "deep" / "2.flac".replace(".flac", ".wav"))
    wav(root / "cat" / "3.wav")
    (root / "cat" / "README.txt").write_text("notes")
    (root / "cat" / ".DS_Store").write_text("x")
    wav(root / "loose.wav")
    m = load_manifest(root)
    assert m.name == "folder:d"
    assert m.classes == ("cat", "dog")
    assert sorted(it.path.name for it in m.items) == ["1.wav", "2.wav", "3.wav"]
    reasons = {Path(b.path).name: b.reason for b in m.bad}
    # Non-audio and misplaced files are visible in .bad (the report), hidden files are not.
    assert set(reasons) == {"README.txt", "loose.wav"}
    assert "not an audio file" in reasons["README.txt"]
    assert "class sub-folder" in reasons["loose.wav"]
    assert validate_manifest(m) is m  # already-skipped files do not stop a run


def make_bad_dataset(tmp_path):
    """A CSV with one good file per class and one row for every kind of problem."""
    good = [wav(tmp_path / f"good{i}.wav", freq=300 + 100 * i) for i in range(4)]
    not_audio(tmp_path / "text.wav")
    empty_wav(tmp_path / "empty.wav")
    nan_wav(tmp_path / "nan.wav")
    wav(tmp_path / "twofolds.wav")
    wav(tmp_path / "dup.wav")
    rows = [
        ["good0.wav", "a", "1"], ["good1.wav", "b", "1"], ["good2.wav", "a", "2"], ["good3.wav", "b", "2"],
        ["missing.wav", "a", "1"],
        ["text.wav", "b", "1"],
        ["empty.wav", "a", "2"],
        ["twofolds.wav", "a", "1"], ["twofolds.wav", "a", "2"],
        ["dup.wav", "b", "1"], ["dup.wav", "b", "1"],
        ["nolabel.wav", "", "2"],
        ["nan.wav", "b", "2"],
    ]
    return write_csv(tmp_path / "meta.csv", ["filename", "label", "fold"], rows), good


def test_all_bad_rows_are_listed(tmp_path):
    p, good = make_bad_dataset(tmp_path)
    m = load_manifest(p)
    with pytest.raises(BadDataError) as ei:
        validate_manifest(m, progress=False)
    err = ei.value
    by_name = {Path(b.path).name: b.reason for b in err.bad}
    assert by_name["missing.wav"] == "file not found"
    assert by_name["text.wav"].startswith("not a readable audio file")
    assert "0 samples" in by_name["empty.wav"] or "empty" in by_name["empty.wav"]
    assert by_name["twofolds.wav"] == "listed in folds 1 and 2 (meta.csv row 9, meta.csv row 10)"
    assert by_name["dup.wav"].startswith("duplicate filename")
    assert "empty label" in by_name["nolabel.wav"]
    # The header check does not decode, so NaN samples are not caught without a cache.
    assert "nan.wav" not in by_name
    assert len(err.bad) == 6
    for name, reason in by_name.items():  # the message lists every file with its reason
        assert name in str(err) and reason in str(err)

    # With a cache every file is decoded: NaN samples are reported too.
    with pytest.raises(BadDataError) as ei:
        validate_manifest(m, cache=AudioCache(8000), progress=False)
    by_name = {Path(b.path).name: b.reason for b in ei.value.bad}
    assert "NaN" in by_name["nan.wav"] and len(ei.value.bad) == 7


def test_skip_bad_keeps_good_rows_and_records_the_rest(tmp_path):
    p, good = make_bad_dataset(tmp_path)
    m = load_manifest(p)
    v = validate_manifest(m, skip_bad=True, cache=AudioCache(8000), progress=False)
    kept = sorted(it.path.name for it in v.items)
    # Good rows plus the first copy of the exact duplicate.
    assert kept == ["dup.wav", "good0.wav", "good1.wav", "good2.wav", "good3.wav"]
    assert sorted(Path(b.path).name for b in v.bad) == sorted(
        ["missing.wav", "text.wav", "empty.wav", "twofolds.wav", "dup.wav", "nolabel.wav", "nan.wav"])
    assert v.problems == ()
    # Every input row is either kept or recorded: nothing silently disappears.
    recorded = {Path(b.path).name for b in v.bad} | set(kept)
    assert recorded == {r.path.name for r in m.items} | {"nolabel.wav"}
    # A validated manifest validates cleanly again.
    assert validate_manifest(v, progress=False) is v


def test_unknown_label_with_fixed_vocabulary(tmp_path):
    wav(tmp_path / "a.wav")
    wav(tmp_path / "b.wav")
    p = write_csv(tmp_path / "m.csv", ["filename", "label"], [["a.wav", "dog"], ["b.wav", "horse"]])
    m = load_manifest(p, classes=["cat", "dog"])
    assert m.classes == ("cat", "dog")
    with pytest.raises(BadDataError, match="unknown label 'horse'"):
        validate_manifest(m)
    v = validate_manifest(m, skip_bad=True)
    assert [it.path.name for it in v.items] == ["a.wav"]
    assert v.bad == (BadItem(str(tmp_path / "b.wav"), "unknown label 'horse' (m.csv row 3)"),)


def test_split_listed_twice_and_conflicting_labels(tmp_path):
    wav(tmp_path / "a.wav")
    wav(tmp_path / "b.wav")
    wav(tmp_path / "c.wav")
    p = write_csv(tmp_path / "m.csv", ["filename", "label", "split"],
                  [["a.wav", "x", "train"], ["a.wav", "x", "test"], ["b.wav", "x", "train"], ["b.wav", "y", "train"],
                   ["c.wav", "x", "holdout"]])
    with pytest.raises(BadDataError) as ei:
        validate_manifest(load_manifest(p))
    reasons = {Path(b.path).name: b.reason for b in ei.value.bad}
    assert reasons["a.wav"] == "listed in splits test and train (m.csv row 2, m.csv row 3)"
    assert reasons["b.wav"].startswith("listed with different labels")
    assert reasons["c.wav"].startswith("unknown split 'holdout'")


def test_apply_bad(tmp_path):
    paths = [wav(tmp_path / f"{i}.wav") for i in range(3)]
    p = write_csv(tmp_path / "m.csv", ["filename", "label"], [[f"{i}.wav", "a"] for i in range(3)])
    m = load_manifest(p)
    bad = [BadItem(str(paths[1]), "NaN/inf samples after decoding")]
    with pytest.raises(BadDataError, match="NaN"):
        apply_bad(m, bad)
    v = apply_bad(m, bad, skip_bad=True)
    assert [it.path for it in v.items] == [paths[0], paths[2]] and v.bad == tuple(bad)
    assert apply_bad(m, []) is m
