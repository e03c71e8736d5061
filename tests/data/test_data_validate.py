"""validate_manifest's class-count warning and require_classes, the check before training."""

import logging

import pytest
from corpusfakes import write_rows
from datafakes import wav

from audiocnn.data import load_manifest, require_classes, validate_manifest


def one_class_csv(tmp_path, n=3):
    for i in range(n):
        wav(tmp_path / f"{i}.wav")
    return write_rows(tmp_path / "m.csv", [["filename", "label"]] + [[f"{i}.wav", "dog"] for i in range(n)])


def test_single_class_is_a_logged_warning(tmp_path, caplog):
    m = load_manifest(one_class_csv(tmp_path))
    with caplog.at_level(logging.WARNING, logger="audiocnn.data"):
        assert validate_manifest(m, progress=False) is m
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    msg = warnings[0].getMessage()
    assert msg.startswith("csv:m.csv: 3 item(s) with only the class 'dog'") and "at least 2 classes" in msg


def test_two_classes_no_warning(tmp_path, caplog):
    wav(tmp_path / "a.wav")
    wav(tmp_path / "b.wav")
    p = write_rows(tmp_path / "m.csv", [["filename", "label"], ["a.wav", "dog"], ["b.wav", "cat"]])
    with caplog.at_level(logging.WARNING, logger="audiocnn.data"):
        validate_manifest(load_manifest(p), progress=False)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_one_class_left_after_skipping_bad_files_warns_too(tmp_path, caplog):
    wav(tmp_path / "a.wav")
    p = write_rows(tmp_path / "m.csv", [["filename", "label"], ["a.wav", "dog"], ["gone.wav", "cat"]])
    with caplog.at_level(logging.WARNING, logger="audiocnn.data"):
        v = validate_manifest(load_manifest(p), skip_bad=True, progress=False)
    assert len(v) == 1 and any("only the class 'dog'" in r.getMessage() for r in caplog.records)


def test_require_classes(tmp_path):
    m = load_manifest(one_class_csv(tmp_path))
    with pytest.raises(ValueError) as ei:
        require_classes(m)
    assert str(ei.value) == (f"csv:m.csv: a classifier needs at least 2 classes with examples; found 1: "
                             f"'dog' (3 items) (in {tmp_path})")
    wav(tmp_path / "c.wav")
    p = write_rows(tmp_path / "two.csv", [["filename", "label"], ["0.wav", "dog"], ["c.wav", "cat"]])
    two = load_manifest(p)
    assert require_classes(two) is two
    with pytest.raises(ValueError, match="at least 3 classes"):
        require_classes(two, 3)
    # Classes in the vocabulary without any item do not count.
    fixed = load_manifest(one_class_csv(tmp_path), classes=["cat", "dog"])
    with pytest.raises(ValueError, match="found 1"):
        require_classes(fixed)
