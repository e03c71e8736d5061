"""Native corpus layouts, on tiny fake trees written in tmp_path."""

from pathlib import Path

import numpy as np
import pytest
from corpusfakes import (
    fake_audioset,
    fake_esc50,
    fake_extended_ballroom,
    fake_fsdd,
    fake_gtzan,
    fake_urbansound8k,
    write_rows,
)
from datafakes import wav

from audiocnn.data import BadDataError, detect_dataset, load_manifest, make_folds, validate_manifest
from audiocnn.data.corpora import extended_ballroom, gtzan


# -- ESC-50 ---------------------------------------------------------------------------------
def test_esc50(tmp_path):
    root = fake_esc50(tmp_path / "ESC-50-master")
    for m in (load_manifest(root, "esc50"), load_manifest(root), load_manifest(root / "meta" / "esc50.csv")):
        assert m.name == "esc50" and m.root == root
        assert m.classes == ("dog", "rooster") and len(m) == 10
        assert m.fold_ids() == ["1", "2", "3", "4", "5"]
        assert all(it.path.parent == root / "audio" for it in m.items)
        assert m.items[0].group == m.items[0].extra["src_file"] if "src_file" in m.items[0].extra else True
    m = validate_manifest(load_manifest(root))
    folds = make_folds(m)
    assert [f[0] for f in folds] == ["fold1", "fold2", "fold3", "fold4", "fold5"]
    for name, tr, te in folds:
        assert {m.items[i].fold for i in te} == {name[4:]}
        assert name[4:] not in {m.items[i].fold for i in tr}


# -- UrbanSound8K ---------------------------------------------------------------------------
def test_urbansound8k(tmp_path):
    root = fake_urbansound8k(tmp_path / "UrbanSound8K")
    m = load_manifest(root)
    assert m.name == "urbansound8k" and len(m) == 20 and m.classes == ("dog_bark", "gun_shot")
    assert m.fold_ids() == [str(k) for k in range(1, 11)]  # numeric order, not "1", "10", "2"
    assert all(it.path.parent.name == f"fold{it.fold}" for it in m.items)
    assert m.items[0].group == "101"
    validate_manifest(m)
    assert len(make_folds(m)) == 10
    assert load_manifest(root, "us8k").items == m.items


# -- GTZAN ----------------------------------------------------------------------------------
def test_gtzan_fault_filtered_split(tmp_path):
    root = fake_gtzan(tmp_path / "gtzan")
    m = load_manifest(root)
    assert m.name == "gtzan"
    # The shipped lists: 443 / 197 / 290 excerpts of 10 genres.
    assert len(m) == 930 and len(m.classes) == 10
    assert m.summary()["per_split"] == {"test": 290, "train": 443, "val": 197}
    split_of = {it.path.name: it.split for it in m.items}
    assert split_of["blues.00029.wav"] == "train"
    assert split_of["blues.00000.wav"] == "val"
    assert split_of["blues.00012.wav"] == "test"
    # The excerpt outside the split is recorded, not silently dropped.
    assert [(Path(b.path).name, b.reason.split(":")[0]) for b in m.bad] == [("classical.00042.wav", "excluded")]
    # Listed files missing from this (fake) copy are reported as such.
    with pytest.raises(BadDataError) as ei:
        validate_manifest(m, progress=False)
    assert len(ei.value.bad) == 930 - 3 and {b.reason for b in ei.value.bad} == {"file not found"}
    v = validate_manifest(m, skip_bad=True, progress=False)
    assert sorted(it.path.name for it in v.items) == ["blues.00000.wav", "blues.00012.wav", "blues.00029.wav"]
    assert len(v.bad) == 1 + 927
    (name, tr, te), = make_folds(v)
    assert name == "test" and [v.items[i].split for i in te] == ["test"]
    assert sorted(v.items[i].split for i in tr) == ["train", "val"]


def test_gtzan_without_split_and_list_fallback(tmp_path, monkeypatch):
    root = fake_gtzan(tmp_path / "gtzan")
    m = load_manifest(root, "gtzan", gtzan_split=False)
    assert len(m) == 4 and all(it.split is None for it in m.items) and m.bad == ()
    assert m.classes == ("blues", "classical")

    # Without the packaged copies, lists in the dataset folder are used.
    def no_package_data(_):
        raise FileNotFoundError("package data missing")

    monkeypatch.setattr(gtzan.resources, "files", no_package_data)
    with pytest.raises(ValueError, match="split lists"):
        load_manifest(root, "gtzan")
    (root / "train_filtered.txt").write_text("blues/blues.00029.wav\n")
    (root / "valid_filtered.txt").write_text("blues/blues.00000.wav\n")
    (root / "test_filtered.txt").write_text("blues/blues.00012.wav\nclassical/classical.00042.wav\n")
    m = validate_manifest(load_manifest(root, "gtzan"))
    assert len(m) == 4 and m.bad == ()
    assert {it.path.name: it.split for it in m.items}["classical.00042.wav"] == "test"


def test_gtzan_au_files_match_wav_lists(tmp_path):
    g = tmp_path / "genres"
    x = np.zeros(800, dtype=np.float32)
    x[::7] = 0.3
    import soundfile as sf

    (g / "blues").mkdir(parents=True)
    sf.write(str(g / "blues" / "blues.00029.au"), x, 8000, format="AU", subtype="PCM_16")
    m = load_manifest(tmp_path, "gtzan")
    it = next(i for i in m.items if i.path.name.startswith("blues.00029"))
    assert it.path.suffix == ".au" and it.path.exists() and it.split == "train"


# -- Extended Ballroom ----------------------------------------------------------------------
def test_extended_ballroom(tmp_path):
    root = fake_extended_ballroom(tmp_path / "extended_ballroom", extended_ballroom.BALLROOM_ALL_CLASSES)
    m = load_manifest(root)
    assert m.name == "extended_ballroom"
    assert m.classes == tuple(sorted(extended_ballroom.BALLROOM_8_CLASSES)) and len(m) == 16
    excluded = {Path(b.path).parent.name for b in m.bad}
    assert excluded == set(extended_ballroom.BALLROOM_ALL_CLASSES) - set(extended_ballroom.BALLROOM_8_CLASSES)
    assert all(b.reason.startswith("excluded") for b in m.bad)
    validate_manifest(m)
    assert len(load_manifest(root, "extended_ballroom", ballroom_classes="all").classes) == 13
    # Nested one level down (as some archives unpack) is found too.
    nested = tmp_path / "outer"
    for cls in extended_ballroom.BALLROOM_8_CLASSES:
        wav(nested / "ExtendedBallroom" / cls / "a.wav")
    assert len(load_manifest(nested, "extended_ballroom")) == 8
    with pytest.raises(ValueError, match="not found"):
        load_manifest(tmp_path / "extended_ballroom" / "Jive", "extended_ballroom")


# -- FSDD -----------------------------------------------------------------------------------
def test_fsdd_from_names_and_metadata(tmp_path):
    root = fake_fsdd(tmp_path / "fsdd")
    wav(root / "recordings" / "hello.wav")
    m = load_manifest(root)
    assert m.name == "fsdd" and len(m) == 12 and m.classes == ("0", "1", "2")
    assert {it.group for it in m.items} == {"george", "jackson"}
    assert [(Path(b.path).name, b.reason) for b in m.problems] == [
        ("hello.wav", "file name does not match <digit>_<speaker>_<take>.wav")]
    v = validate_manifest(m, skip_bad=True)
    assert len(v) == 12 and len(v.bad) == 1
    # metadata.csv rows are used and checked against the name.
    rows = [["filename", "label", "speaker", "take"]]
    rows += [[f"recordings/{p.name}", p.name[0], p.name.split("_")[1], p.stem[-1]] for p in sorted((root / "recordings").glob("?_*.wav"))]
    rows[1][1] = "7"  # a label that contradicts the file name
    write_rows(root / "metadata.csv", rows)
    m = load_manifest(root, "fsdd")
    reasons = [b.reason for b in m.problems]
    assert any("'7' in metadata.csv but '0' in the file name" in r for r in reasons)
    assert len(m) == 11
    folds = make_folds(validate_manifest(m, skip_bad=True), "logo")
    assert [f[0] for f in folds] == ["george", "jackson"]


# -- AudioSet -------------------------------------------------------------------------------
def test_audioset(tmp_path):
    root = fake_audioset(tmp_path / "audioset")
    m = load_manifest(root)
    assert m.name == "audioset" and m.multilabel
    assert m.classes == ("Speech", "Music", "Animal")  # class_labels_indices order, not sorted
    by_ytid = {it.extra["ytid"]: it for it in m.items}
    assert set(by_ytid) == {"--PJHxphWEs", "-0RWZT-miFs", "Ymissing0001", "_evalclip01"}
    assert by_ytid["--PJHxphWEs"].labels == ("Speech", "Music")
    assert by_ytid["--PJHxphWEs"].split == "train" and by_ytid["_evalclip01"].split == "test"
    assert by_ytid["-0RWZT-miFs"].path.name == "-0RWZT-miFs_420.000.wav"
    np.testing.assert_array_equal(m.targets()[[it.extra["ytid"] for it in m.items].index("_evalclip01")], [1, 0, 1])
    assert [b.reason for b in m.problems] == [
        "unknown label '/m/zzzz' (not in class_labels_indices.csv; balanced_train_segments.csv row 7)"]
    with pytest.raises(BadDataError) as ei:
        validate_manifest(m)
    assert sorted(b.reason.split(" (")[0] for b in ei.value.bad) == ["file not found", "unknown label '/m/zzzz'"]
    v = validate_manifest(m, skip_bad=True)
    assert len(v) == 3 and len(v.bad) == 2
    (name, tr, te), = make_folds(v)
    assert [v.items[i].extra["ytid"] for i in te] == ["_evalclip01"]
    # One segment file alone: only that split.
    e = load_manifest(root / "eval_segments.csv")
    assert e.name == "audioset" and len(e) == 1 and e.items[0].split == "test"


# -- detection ------------------------------------------------------------------------------
def test_detection(tmp_path):
    assert detect_dataset(fake_esc50(tmp_path / "esc")) == "esc50"
    assert detect_dataset(fake_gtzan(tmp_path / "gt")) == "gtzan"
    assert detect_dataset(fake_audioset(tmp_path / "as")) == "audioset"
    assert detect_dataset(tmp_path / "as" / "eval_segments.csv") == "audioset"
    wav(tmp_path / "fsdd" / "recordings" / "3_theo_0.wav")
    assert detect_dataset(tmp_path / "fsdd") == "fsdd"
    wav(tmp_path / "folder" / "a" / "x.wav")
    assert detect_dataset(tmp_path / "folder") == "folder"
    write_rows(tmp_path / "withcsv" / "labels.csv", [["filename", "label"], ["x.wav", "a"]])
    assert detect_dataset(tmp_path / "withcsv") == "csv"
    assert load_manifest(tmp_path / "withcsv").name == "csv:labels.csv"
    with pytest.raises(ValueError, match="CSV manifest or a folder"):
        detect_dataset(wav(tmp_path / "x.wav"))
