"""Bad CSV files: each stops with a message naming the file, the row and the rule."""

import pytest
from corpusfakes import write_rows
from datafakes import wav

from audiocnn.data import BadDataError, CSVFormatError, load_manifest, validate_manifest
from audiocnn.data.csvio import is_missing, read_csv_table, write_csv


def test_utf8_with_and_without_bom(tmp_path):
    wav(tmp_path / "é.wav")
    for name, prefix in (("plain.csv", b""), ("bom.csv", b"\xef\xbb\xbf")):
        (tmp_path / name).write_bytes(prefix + "filename,label\né.wav,café\n".encode())
        m = load_manifest(tmp_path / name)
        assert [it.labels for it in m.items] == [("café",)] and m.items[0].path.name == "é.wav"


def test_latin1_file_names_the_row_and_the_byte(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes("filename,label\na.wav,dog\nb.wav,caf\xe9\n".encode("latin-1"))
    with pytest.raises(CSVFormatError) as ei:
        load_manifest(p)
    e = ei.value
    assert e.path == str(p) and e.row == 3
    msg = str(e)
    assert msg.startswith(f"{p}: row 3: ") and "0xe9" in msg and "utf-8" in msg and "UTF-8" in msg
    assert not isinstance(e, UnicodeDecodeError)


def test_utf16_file_is_named_as_such(tmp_path):
    p = tmp_path / "u16.csv"
    p.write_bytes("filename,label\na.wav,dog\n".encode("utf-16"))
    with pytest.raises(CSVFormatError, match="UTF-16"):
        load_manifest(p, "csv")


def test_missing_columns_name_the_file_the_header_row_and_what_was_found(tmp_path):
    p = write_rows(tmp_path / "m.csv", [["file_name", "label"], ["a.wav", "x"]])
    with pytest.raises(CSVFormatError) as ei:
        load_manifest(p, "csv")
    assert str(ei.value) == (f"{p}: row 1: missing column 'filename' (the audio file, relative to the CSV's folder); "
                             "found columns ['file_name', 'label']")
    p = write_rows(tmp_path / "n.csv", [["filename", "class"], ["a.wav", "x"]])
    with pytest.raises(CSVFormatError, match=r"row 1: missing column 'label'"):
        load_manifest(p)
    # Corpus metadata files get the same rule.
    write_rows(tmp_path / "esc" / "meta" / "esc50.csv", [["filename", "fold"], ["a.wav", "1"]])
    with pytest.raises(CSVFormatError, match=r"esc50.csv: row 1: missing column\(s\) 'category'"):
        load_manifest(tmp_path / "esc")


def test_repeated_header_column_and_nul_byte(tmp_path):
    p = write_rows(tmp_path / "m.csv", [["filename", "label", "label"], ["a.wav", "x", "y"]])
    with pytest.raises(CSVFormatError, match=r"row 1: column\(s\) \['label'\] appear more than once"):
        load_manifest(p)
    q = tmp_path / "nul.csv"
    q.write_bytes(b"filename,label\na.wav,x\nb\x00.wav,y\n")
    with pytest.raises(CSVFormatError, match=r"nul.csv: row 3: NUL byte"):
        load_manifest(q)
    e = tmp_path / "empty.csv"
    e.write_text("")
    with pytest.raises(CSVFormatError, match="empty"):
        load_manifest(e, "csv")


def test_duplicates_two_folds_and_train_test_name_the_rows(tmp_path):
    for n in ("a", "b", "c", "d"):
        wav(tmp_path / f"{n}.wav")
    p = write_rows(tmp_path / "m.csv", [
        ["filename", "label", "fold", "split"],
        ["a.wav", "x", "1", "train"], ["a.wav", "x", "1", "train"],   # the same row twice
        ["b.wav", "x", "1", "train"], ["b.wav", "x", "2", "train"],   # two folds
        ["c.wav", "y", "1", "train"], ["c.wav", "y", "1", "test"],    # train and test
        ["d.wav", "y", "2", "test"],
    ])
    with pytest.raises(BadDataError) as ei:
        validate_manifest(load_manifest(p), progress=False)
    reasons = {b.path.rsplit("/", 1)[-1]: b.reason for b in ei.value.bad}
    assert reasons == {
        "a.wav": "duplicate filename (listed 2 times: m.csv row 2, m.csv row 3; first copy kept)",
        "b.wav": "listed in folds 1 and 2 (m.csv row 4, m.csv row 5)",
        "c.wav": "listed in splits test and train (m.csv row 6, m.csv row 7)",
    }


def test_empty_cells_are_missing_and_written_text_is_not():
    assert is_missing(None) and is_missing("") and is_missing("  ")
    for text in ("none", "NA", "null", "nan", "NaN", "0", "-"):
        assert not is_missing(text)


def test_read_table_rows_and_write_csv(tmp_path):
    p = write_csv(tmp_path / "out" / "t.csv", ["a", "b"], [["1", "x, y"], ["2", ""]])
    t = read_csv_table(p)
    assert t.header == ("a", "b") and t.rows == ({"a": "1", "b": "x, y"}, {"a": "2", "b": ""}) and t.lines == (2, 3)
    assert not list((tmp_path / "out").glob(".*tmp*"))  # no temporary file left behind
