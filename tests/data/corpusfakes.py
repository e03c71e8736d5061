"""Tiny fake copies of each corpus layout, written into tmp_path (imported by the data tests)."""

import csv
from pathlib import Path

from datafakes import wav

SEGMENTS_HEADER = (
    "# Segments csv created Sun Mar  5 10:54:31 2017\n"
    "# num_ytids=4, num_segs=4, num_unique_labels=3, num_positive_labels=5\n"
    "# YTID, start_seconds, end_seconds, positive_labels\n"
)


def write_rows(path, rows) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def fake_folder(root: Path) -> Path:
    for cls in ("cat", "dog"):
        for i in range(2):
            wav(root / cls / f"{i}.wav")
    return root


def fake_csv(root: Path) -> Path:
    """A CSV manifest with every optional column, an extra column, and labels that look like NA."""
    rows = [["filename", "label", "fold", "split", "speaker", "note"]]
    for i, lab in enumerate(["none", "NA", "null", "nan"]):
        wav(root / "clips" / f"{i}.wav")
        rows.append([f"clips/{i}.wav", lab, str(i % 2 + 1), "train" if i < 3 else "test", f"s{i % 2}", f"n{i}"])
    return write_rows(root / "meta.csv", rows)


def fake_esc50(root: Path) -> Path:
    rows = [["filename", "fold", "target", "category", "esc10", "src_file", "take"]]
    for fold in (1, 2, 3, 4, 5):
        for target, cat in ((0, "dog"), (1, "rooster")):
            name = f"{fold}-{1000 + target}-A-{target}.wav"
            rows.append([name, str(fold), str(target), cat, "True", str(1000 + target + 10 * fold), "A"])
            wav(root / "audio" / name, freq=200 + 300 * target)
    write_rows(root / "meta" / "esc50.csv", rows)
    return root


def fake_urbansound8k(root: Path) -> Path:
    rows = [["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"]]
    for fold in range(1, 11):
        for cid, cls in ((3, "dog_bark"), (6, "gun_shot")):
            name = f"{100 + fold}-{cid}-0-0.wav"
            rows.append([name, str(100 + fold), "0", "0.1", "1", str(fold), str(cid), cls])
            wav(root / "audio" / f"fold{fold}" / name)
    write_rows(root / "metadata" / "UrbanSound8K.csv", rows)
    return root


def fake_gtzan(root: Path, genres=("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop",
                                   "reggae", "rock")) -> Path:
    g = root / "genres"
    wav(g / "blues" / "blues.00029.wav")      # train list
    wav(g / "blues" / "blues.00000.wav")      # valid list
    wav(g / "blues" / "blues.00012.wav")      # test list
    wav(g / "classical" / "classical.00042.wav")  # in no list (excluded by the filtered split)
    for genre in genres[2:]:
        (g / genre).mkdir(parents=True, exist_ok=True)
    return root


def fake_extended_ballroom(root: Path, classes) -> Path:
    for cls in classes:
        wav(root / cls / f"{cls.lower()}_1.wav")
        wav(root / cls / f"{cls.lower()}_2.wav")
    return root


def fake_fsdd(root: Path) -> Path:
    for d in (0, 1, 2):
        for spk in ("george", "jackson"):
            for take in (0, 1):
                wav(root / "recordings" / f"{d}_{spk}_{take}.wav", freq=300 + 100 * d)
    return root


def fake_audioset(root: Path) -> Path:
    """Segment CSVs in the released format beside the class index, clips under audios/."""
    write_rows(root / "class_labels_indices.csv", [
        ["index", "mid", "display_name"], ["0", "/m/09x0r", "Speech"], ["1", "/m/04rlf", "Music"], ["2", "/m/0jbk", "Animal"]])
    root.mkdir(parents=True, exist_ok=True)
    (root / "balanced_train_segments.csv").write_text(SEGMENTS_HEADER + (
        '--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/m/04rlf"\n'
        '-0RWZT-miFs, 420.000, 430.000, "/m/0jbk"\n'
        'Ymissing0001, 0.000, 10.000, "/m/04rlf"\n'
        'unknownmid1, 10.000, 20.000, "/m/zzzz"\n'))
    (root / "eval_segments.csv").write_text(SEGMENTS_HEADER + '_evalclip01, 5.000, 15.000, "/m/0jbk,/m/09x0r"\n')
    wav(root / "audios" / "balanced_train_segments" / "Y--PJHxphWEs.wav")
    wav(root / "audios" / "balanced_train_segments" / "-0RWZT-miFs_420.000.wav")
    wav(root / "audios" / "eval_segments" / "Y_evalclip01.wav")
    return root
