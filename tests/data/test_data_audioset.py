"""AudioSet as released: segment CSVs with their quoting, the PANNs folder layout, subsets, black list."""

from pathlib import Path

import pytest
from corpusfakes import SEGMENTS_HEADER, write_rows
from datafakes import wav

from audiocnn.data import BadDataError, load_manifest, make_folds, validate_manifest
from audiocnn.data.corpora.audioset import AudioSet
from audiocnn.data.corpora.audioset_files import clip_stems, read_blacklist, read_segments

BALANCED = (
    '--4gqARaEJE, 0.000, 10.000, "/m/068hy,/m/07q6cd_,/m/0bt9lr,/m/0jbk"\n'
    '--BfvyPmVMo, 20.000, 30.000, "/m/03l9g"\n'
    '--U7joUcTCo, 0.000, 10.000, "/m/01b_21"\n'
)
UNBALANCED = '---1_cCGK4M, 0.000, 10.000, "/m/01g50p,/m/0284vy3,/m/06d_3,/m/07jdr,/m/07rwm0c"\n'
EVAL = (
    '--4gqARaEJE, 0.000, 10.000, "/m/068hy,/m/07q6cd_,/m/0bt9lr,/m/0jbk"\n'
    '-0RWZT-miFs, 420.000, 430.000, "/m/03v3yw,/m/0k4j"\n'
    '-1nilez17Dg, 30.000, 40.000, "/m/068hy"\n'
)
CLASSES = [("/m/068hy", "Domestic animals, pets"), ("/m/07q6cd_", "Squeak"), ("/m/0bt9lr", "Dog"),
           ("/m/0jbk", "Animal"), ("/m/03l9g", "Hammer"), ("/m/01b_21", "Cough"), ("/m/01g50p", "Railroad car, train wagon"),
           ("/m/0284vy3", "Train horn"), ("/m/06d_3", "Rail transport"), ("/m/07jdr", "Train"),
           ("/m/07rwm0c", "Clickety-clack"), ("/m/03v3yw", "Keys jangling"), ("/m/0k4j", "Car")]


def panns_layout(root: Path) -> Path:
    """The folders of the PANNs download scripts: metadata/ with the CSVs, audios/<subset>/Y<id>.wav."""
    meta = root / "metadata"
    write_rows(meta / "class_labels_indices.csv",
               [["index", "mid", "display_name"]] + [[str(i), m, n] for i, (m, n) in enumerate(CLASSES)])
    (meta / "balanced_train_segments.csv").write_text(SEGMENTS_HEADER + BALANCED)
    (meta / "unbalanced_train_segments.csv").write_text(SEGMENTS_HEADER + UNBALANCED)
    (meta / "eval_segments.csv").write_text(SEGMENTS_HEADER + EVAL)
    audios = root / "audios"
    wav(audios / "balanced_train_segments" / "Y--4gqARaEJE.wav")
    wav(audios / "balanced_train_segments" / "Y--BfvyPmVMo.wav")
    wav(audios / "unbalanced_train_segments" / "unbalanced_train_segments_part00" / "Y---1_cCGK4M.wav")
    wav(audios / "eval_segments" / "Y--4gqARaEJE.wav")  # the same video id in eval: its own clip
    wav(audios / "eval_segments" / "-0RWZT-miFs_420.000_430.000.wav")  # {ytid}_{start}_{end} naming
    (audios / "eval_segments" / "-1nilez17Dg").mkdir(parents=True)  # not an audio file: ignored
    return root


def test_released_rows_with_quoting_and_comments(tmp_path):
    p = tmp_path / "balanced_train_segments.csv"
    p.write_text(SEGMENTS_HEADER + BALANCED + 'short_row1, 0.000\nbad_start01, abc, 10.000, "/m/0jbk"\n')
    segments, problems = read_segments(p)
    assert [s.ytid for s in segments] == ["--4gqARaEJE", "--BfvyPmVMo", "--U7joUcTCo"]
    assert segments[0].mids == ("/m/068hy", "/m/07q6cd_", "/m/0bt9lr", "/m/0jbk")
    assert (segments[0].start, segments[0].end, segments[0].row) == ("0.000", "10.000", 4)
    assert [(b.path, b.reason) for b in problems] == [
        ("balanced_train_segments.csv row 7",
         'expected 4 fields (YTID, start_seconds, end_seconds, "positive_labels"), found 2'),
        ("balanced_train_segments.csv row 8", "start/end 'abc' is not a number of seconds"),
    ]


def test_panns_layout_subsets_and_paths(tmp_path):
    root = panns_layout(tmp_path / "audioset")
    m = load_manifest(root)
    assert m.name == "audioset" and m.multilabel and m.root == root
    assert m.classes == tuple(n for _, n in CLASSES)
    got = [(it.extra["subset"], it.split, it.extra["ytid"], it.path.relative_to(root).as_posix()) for it in m.items]
    assert got == [
        ("balanced_train", "train", "--4gqARaEJE", "audios/balanced_train_segments/Y--4gqARaEJE.wav"),
        ("balanced_train", "train", "--BfvyPmVMo", "audios/balanced_train_segments/Y--BfvyPmVMo.wav"),
        ("balanced_train", "train", "--U7joUcTCo", "audios/balanced_train_segments/Y--U7joUcTCo.wav"),  # missing
        ("unbalanced_train", "train", "---1_cCGK4M",
         "audios/unbalanced_train_segments/unbalanced_train_segments_part00/Y---1_cCGK4M.wav"),
        ("eval", "test", "--4gqARaEJE", "audios/eval_segments/Y--4gqARaEJE.wav"),
        ("eval", "test", "-0RWZT-miFs", "audios/eval_segments/-0RWZT-miFs_420.000_430.000.wav"),
        ("eval", "test", "-1nilez17Dg", "audios/eval_segments/Y-1nilez17Dg.wav"),  # missing, in eval_segments/
    ]
    assert m.items[0].labels == ("Domestic animals, pets", "Squeak", "Dog", "Animal")
    assert m.items[0].origin == "balanced_train_segments.csv row 4"
    v = validate_manifest(m, skip_bad=True, progress=False)
    assert sorted(Path(b.path).name for b in v.bad) == ["Y--U7joUcTCo.wav", "Y-1nilez17Dg.wav"]
    (name, train, test), = make_folds(v)
    assert name == "test" and {v.items[i].extra["subset"] for i in test} == {"eval"}
    assert {v.items[i].extra["subset"] for i in train} == {"balanced_train", "unbalanced_train"}


def test_score_the_eval_split_alone(tmp_path):
    root = panns_layout(tmp_path / "audioset")
    m = load_manifest(root)
    ev = m.select_split("eval")
    assert [it.extra["ytid"] for it in ev.items] == ["--4gqARaEJE", "-0RWZT-miFs", "-1nilez17Dg"]
    assert ev.classes == m.classes
    assert len(m.select_split("balanced_train")) == 3 and len(m.select_split("train")) == 4
    assert m.split_names() == ["balanced_train", "eval", "test", "train", "unbalanced_train"]
    with pytest.raises(ValueError, match="no item in split 'dev'"):
        m.select_split("dev")
    # Loading only the evaluation segments, by option or by giving the file itself.
    only = load_manifest(root, "audioset", audioset_splits=["eval"])
    assert only.items == ev.items
    from_file = load_manifest(root / "metadata" / "eval_segments.csv")
    assert from_file.root == root and from_file.items == ev.items
    with pytest.raises(ValueError, match=r"split\(s\) \['evaluation'\] not found"):
        load_manifest(root, "audioset", audioset_splits=["evaluation"])


def test_blacklist_file_and_list(tmp_path):
    root = panns_layout(tmp_path / "audioset")
    black = tmp_path / "black_list.txt"
    black.write_text("# clips to skip\n--BfvyPmVMo\n\nY---1_cCGK4M.wav\n-0RWZT-miFs_420.000_430.000.wav\t420.000\t430.000\tCar\n")
    m = load_manifest(root, audioset_blacklist=black)
    kept = [(it.extra["subset"], it.extra["ytid"]) for it in m.items]
    assert kept == [("balanced_train", "--4gqARaEJE"), ("balanced_train", "--U7joUcTCo"),
                    ("eval", "--4gqARaEJE"), ("eval", "-1nilez17Dg")]
    excluded = sorted((Path(b.path).name, b.reason) for b in m.bad)
    assert excluded == [
        ("-0RWZT-miFs_420.000_430.000.wav", "excluded: in the black list (black_list.txt; eval_segments.csv row 5)"),
        ("Y---1_cCGK4M.wav", "excluded: in the black list (black_list.txt; unbalanced_train_segments.csv row 4)"),
        ("Y--BfvyPmVMo.wav", "excluded: in the black list (black_list.txt; balanced_train_segments.csv row 5)"),
    ]
    assert AudioSet(blacklist=["--4gqARaEJE"]).load(root).select_split("eval").items[0].extra["ytid"] == "-0RWZT-miFs"
    with pytest.raises(FileNotFoundError, match="black list file not found"):
        load_manifest(root, audioset_blacklist=tmp_path / "nope.txt")


def test_blacklist_entry_forms():
    ids = read_blacklist(["abcdefghijk", "YABCDEFGHIJK.wav", "0123456789a_60.000_70.000.wav\t60.000", "# comment", ""])
    assert {"abcdefghijk", "ABCDEFGHIJK", "0123456789a"} <= ids and "# comment" not in ids


def test_clip_stems_cover_the_common_namings():
    stems = clip_stems("abc", "30.000", "40.000")
    for s in ("Yabc", "abc", "abc_30.000", "abc_30", "abc_30000", "abc_30.000_40.000", "abc_30_40", "abc_30000_40000"):
        assert s in stems


def test_unknown_mid_and_bad_class_index(tmp_path):
    root = panns_layout(tmp_path / "audioset")
    (root / "metadata" / "eval_segments.csv").write_text(SEGMENTS_HEADER + '-1nilez17Dg, 30.000, 40.000, "/m/zzzz"\n')
    m = load_manifest(root, audioset_splits=["eval"])
    assert [b.reason for b in m.problems] == [
        "unknown label '/m/zzzz' (not in class_labels_indices.csv; eval_segments.csv row 4)"]
    with pytest.raises(BadDataError, match="unknown label '/m/zzzz'"):
        validate_manifest(m, progress=False)
    write_rows(root / "metadata" / "class_labels_indices.csv", [["index", "mid", "display_name"], ["one", "/m/x", "X"]])
    with pytest.raises(ValueError, match=r"class_labels_indices.csv: row 2: index 'one' is not an integer"):
        load_manifest(root)
