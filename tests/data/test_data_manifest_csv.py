"""Manifest.to_csv / Manifest.from_csv round trip, for every corpus type, on tiny fake layouts."""

import csv
from pathlib import Path

import pytest
from corpusfakes import (
    fake_audioset,
    fake_csv,
    fake_esc50,
    fake_extended_ballroom,
    fake_folder,
    fake_fsdd,
    fake_gtzan,
    fake_urbansound8k,
)
from datafakes import wav

from audiocnn.data import DATASETS, Item, Manifest, load_manifest, validate_manifest
from audiocnn.data.corpora.extended_ballroom import BALLROOM_8_CLASSES

LAYOUTS = {
    "csv": lambda d: fake_csv(d),
    "folder": lambda d: fake_folder(d),
    "esc50": lambda d: fake_esc50(d),
    "urbansound8k": lambda d: fake_urbansound8k(d),
    "gtzan": lambda d: fake_gtzan(d),
    "extended_ballroom": lambda d: fake_extended_ballroom(d, BALLROOM_8_CLASSES),
    "fsdd": lambda d: fake_fsdd(d),
    "audioset": lambda d: fake_audioset(d),
}


def test_every_registered_corpus_has_a_round_trip_case():
    assert set(LAYOUTS) == set(DATASETS)


@pytest.mark.parametrize("corpus", sorted(LAYOUTS))
def test_round_trip(tmp_path, corpus):
    data = LAYOUTS[corpus](tmp_path / "data")
    m = load_manifest(data, corpus)
    assert len(m) > 0
    out = m.to_csv(tmp_path / "export" / "manifest.csv")
    assert out == tmp_path / "export" / "manifest.csv" and out.is_file()
    assert (tmp_path / "export" / "manifest.classes.txt").read_text().splitlines() == list(m.classes)
    for back in (Manifest.from_csv(out), load_manifest(out), load_manifest(tmp_path / "export")):
        assert back.items == m.items  # paths, labels, fold, split, group and extra metadata
        assert back.classes == m.classes and back.multilabel == m.multilabel
    # The file is a plain CSV with the documented columns.
    with open(out, newline="") as f:
        header = next(csv.reader(f))
    assert header[:2] == ["filename", "labels" if m.multilabel else "label"]


def test_round_trip_keeps_what_each_corpus_carries(tmp_path):
    esc = load_manifest(fake_esc50(tmp_path / "esc"))
    back = Manifest.from_csv(esc.to_csv(tmp_path / "esc.csv"))
    first = back.items[0]
    assert first.fold == "1" and first.group == esc.items[0].group and first.extra["src_file"] == first.group
    aus = load_manifest(fake_audioset(tmp_path / "as"))
    back = Manifest.from_csv(aus.to_csv(tmp_path / "as.csv"))
    assert back.classes == ("Speech", "Music", "Animal")  # the class index order, not sorted
    by_ytid = {it.extra["ytid"]: it for it in back.items}
    assert by_ytid["--PJHxphWEs"].labels == ("Speech", "Music")
    assert by_ytid["_evalclip01"].split == "test" and by_ytid["_evalclip01"].extra["subset"] == "eval"
    csvm = load_manifest(fake_csv(tmp_path / "c"))
    back = Manifest.from_csv(csvm.to_csv(tmp_path / "c.csv"))
    assert [it.labels for it in back.items] == [("none",), ("NA",), ("null",), ("nan",)]
    assert [it.group for it in back.items] == ["s0", "s1", "s0", "s1"]


def test_paths_relative_below_the_csv_absolute_elsewhere(tmp_path):
    inside = wav(tmp_path / "export" / "a" / "x.wav")
    outside = wav(tmp_path / "elsewhere" / "y.wav")
    m = Manifest(items=(Item(inside, ("a",)), Item(outside, ("b",))), classes=("a", "b"), multilabel=False,
                 name="t", root=tmp_path)
    out = m.to_csv(tmp_path / "export" / "m.csv")
    rows = list(csv.reader(open(out, newline="")))
    assert rows == [["filename", "label"], ["a/x.wav", "a"], [str(outside), "b"]]
    assert Manifest.from_csv(out).items == m.items


def test_classes_without_items_and_their_order_survive(tmp_path):
    p = wav(tmp_path / "x.wav")
    m = Manifest(items=(Item(p, ("zebra",)),), classes=("zebra", "ant", "unused"), multilabel=False,
                 name="t", root=tmp_path)
    back = Manifest.from_csv(m.to_csv(tmp_path / "m.csv"))
    assert back.classes == ("zebra", "ant", "unused")


def test_exported_then_edited_then_fed_back(tmp_path):
    m = load_manifest(fake_folder(tmp_path / "d"))
    out = m.to_csv(tmp_path / "m.csv")
    text = out.read_text().replace("d/dog/1.wav,dog", "d/dog/1.wav,cat")
    out.write_text(text)
    edited = validate_manifest(load_manifest(out))
    assert [it.labels[0] for it in edited.items if it.path.name == "1.wav" and it.path.parent.name == "dog"] == ["cat"]
    # A label outside the exported class list is reported, naming the list and the row.
    out.write_text(text.replace("d/cat/0.wav,cat", "d/cat/0.wav,horse"))
    got = load_manifest(out)
    assert [b.reason for b in got.problems] == ["unknown label 'horse' (not in m.classes.txt; m.csv row 2)"]


def test_multilabel_with_empty_and_separator(tmp_path):
    p = [wav(tmp_path / f"{i}.wav") for i in range(2)]
    m = Manifest(items=(Item(p[0], ("Speech", "Male speech, man speaking")), Item(p[1], ())),
                 classes=("Speech", "Male speech, man speaking"), multilabel=True, name="t", root=tmp_path)
    back = Manifest.from_csv(m.to_csv(tmp_path / "m.csv"))
    assert back.items == m.items and back.multilabel
    bad = Manifest(items=(Item(p[0], ("a;b",)),), classes=("a;b",), multilabel=True, name="t", root=tmp_path)
    with pytest.raises(ValueError, match="separator"):
        bad.to_csv(tmp_path / "bad.csv")
    assert not (tmp_path / "bad.csv").exists()


def test_extra_key_clashing_with_a_column_is_refused(tmp_path):
    p = wav(tmp_path / "x.wav")
    m = Manifest(items=(Item(p, ("a",), extra={"fold": "3"}),), classes=("a",), multilabel=False,
                 name="t", root=tmp_path)
    with pytest.raises(ValueError, match="clash"):
        m.to_csv(tmp_path / "m.csv")


def test_to_csv_into_a_folder_path_is_an_output_error(tmp_path):
    from audiocnn.atomic import OutputError

    m = load_manifest(fake_folder(tmp_path / "d"))
    (tmp_path / "taken.csv").mkdir()
    with pytest.raises(OutputError, match="taken"):
        m.to_csv(tmp_path / "taken.csv")


def test_item_origin_names_the_row_but_is_not_compared(tmp_path):
    m = load_manifest(fake_csv(tmp_path / "c"))
    assert [it.origin for it in m.items] == [f"meta.csv row {i}" for i in range(2, 6)]
    moved = Item(m.items[0].path, m.items[0].labels, m.items[0].fold, m.items[0].split, m.items[0].group,
                 dict(m.items[0].extra), origin="other.csv row 9")
    assert moved == m.items[0]
    assert Path(m.items[0].path).is_absolute()
