"""Label rules: any written string is a label; one check for unknown labels."""

import pytest
from corpusfakes import write_rows
from datafakes import wav

from audiocnn.data import LabelError, check_labels, label_problem, load_manifest, validate_manifest
from audiocnn.data.labels import join_labels, split_labels


def test_na_like_strings_are_labels_in_every_reader(tmp_path):
    names = ["none", "NA", "null", "nan", "None", "N/A"]
    for i in range(len(names)):
        wav(tmp_path / f"{i}.wav")
    p = write_rows(tmp_path / "m.csv", [["filename", "label", "speaker"]] + [[f"{i}.wav", n, "NA"] for i, n in enumerate(names)])
    m = validate_manifest(load_manifest(p), progress=False)
    assert [it.labels for it in m.items] == [(n,) for n in names]
    assert set(m.classes) == set(names) and all(it.group == "NA" for it in m.items)
    # Multi-label cells and class folders too.
    q = write_rows(tmp_path / "tags.csv", [["filename", "labels"], ["0.wav", "none;nan"], ["1.wav", ""]])
    t = load_manifest(q)
    assert [it.labels for it in t.items] == [("none", "nan"), ()]
    wav(tmp_path / "folders" / "none" / "x.wav")
    wav(tmp_path / "folders" / "NA" / "y.wav")
    assert load_manifest(tmp_path / "folders").classes == ("NA", "none")


def test_only_an_empty_cell_is_a_missing_label(tmp_path):
    wav(tmp_path / "a.wav")
    p = write_rows(tmp_path / "m.csv", [["filename", "label"], ["a.wav", "  "]])
    m = load_manifest(p)
    assert len(m) == 0 and [b.reason for b in m.problems] == ["empty label (m.csv row 2)"]


def test_label_problem_reasons():
    assert label_problem(["dog"], {"dog", "cat"}) is None
    assert label_problem(["horse"], None) is None
    assert label_problem(["horse"], {"dog"}) == "unknown label 'horse'"
    assert label_problem(["a", "b", "a", "dog"], {"dog"}, known_name="model.pth") == "unknown labels 'a', 'b' (not in model.pth)"
    assert label_problem(["", "dog"], {"dog"}) == "empty label"


def test_check_labels_names_the_source_every_unknown_label_and_the_known_ones():
    check_labels(["dog", "cat", "dog"], ["cat", "dog"], "data.csv")
    with pytest.raises(LabelError) as ei:
        check_labels(["dog", "horse", "cow", "horse"], ["cat", "dog"], "data.csv", known_name="the labels of m.pth")
    e = ei.value
    assert isinstance(e, ValueError) and e.unknown == ("horse", "cow") and e.source == "data.csv"
    assert str(e) == "data.csv: unknown labels 'horse', 'cow' (not in the labels of m.pth: 'cat', 'dog')"
    with pytest.raises(LabelError, match=r"\.\.\. \(20 in all\)"):
        check_labels(["zz"], [f"c{i}" for i in range(20)], "x")
    with pytest.raises(LabelError, match="x: empty label"):
        check_labels([""], None, "x")


def test_split_and_join():
    assert split_labels(" speech ; music;") == ("speech", "music")
    assert split_labels("") == ()
    assert join_labels(["a", "b c"]) == "a;b c"
    for bad in (["a;b"], [""], [" a"]):
        with pytest.raises(ValueError, match="cannot be written"):
            join_labels(bad)
