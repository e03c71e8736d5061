"""Native layouts of known corpora, and detection of the layout of a data folder.

Each loader returns a :class:`~audiocnn.data.manifest.Manifest` whose ``problems`` hold rows it
could not turn into items (unknown labels, malformed names...) and whose ``bad`` holds files it
deliberately excluded (e.g. GTZAN excerpts outside the fault-filtered split), each with a reason.
Missing or unreadable files are found later by :func:`~audiocnn.data.manifest.validate_manifest`.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from audiocnn.data.manifest import (
    AUDIO_EXTENSIONS,
    BadItem,
    Item,
    Manifest,
    _clean_fold,
    _finish,
    _is_missing,
    load_folder_manifest,
    read_csv_rows,
)

__all__ = [
    "BALLROOM_8_CLASSES",
    "GTZAN_GENRES",
    "detect_dataset",
    "find_csv",
    "load_audioset",
    "load_esc50",
    "load_extended_ballroom",
    "load_fsdd",
    "load_gtzan",
    "load_urbansound8k",
]

GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")

#: The class folders of the Extended Ballroom set (Marchand & Peeters, ISMIR 2016 LBD).
BALLROOM_ALL_CLASSES = (
    "Chacha", "Foxtrot", "Jive", "Pasodoble", "Quickstep", "Rumba", "Salsa", "Samba",
    "Slowwaltz", "Tango", "Viennesewaltz", "Waltz", "Wcswing",
)
#: The 8 rhythm classes shared with the original Ballroom set (Gouyon et al., ISMIR 2004).
BALLROOM_8_CLASSES = ("Chacha", "Jive", "Quickstep", "Rumba", "Samba", "Tango", "Viennesewaltz", "Waltz")

_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)$")


def _canon(name: str) -> str:
    s = re.sub(r"[^a-z]", "", name.lower())
    return {"chachacha": "chacha", "viennese": "viennesewaltz", "slowfoxtrot": "foxtrot",
            "westcoastswing": "wcswing"}.get(s, s)


# ---------------------------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------------------------
def _is_segments_csv(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8-sig") as f:
            head = f.read(400)
    except OSError:
        return False
    first = head.splitlines()[:3]
    return head.startswith("# Segments csv") or any(ln.lstrip("# ").startswith("YTID") for ln in first)


def _audioset_files(root: Path) -> tuple[list[Path], Path | None]:
    """Segment CSVs and the class index below ``root`` (root itself or a metadata/ sub-folder)."""
    segs: list[Path] = []
    index = None
    for d in (root, root / "metadata", root / "meta", root / "csvs"):
        if d.is_dir():
            segs += sorted(p for p in d.glob("*.csv") if p.name != "class_labels_indices.csv" and _is_segments_csv(p))
            if index is None and (d / "class_labels_indices.csv").exists():
                index = d / "class_labels_indices.csv"
    return segs, index


def _gtzan_genres_dir(root: Path, min_genres: int = 5) -> Path | None:
    """The folder holding the genre folders (``genres/``, Kaggle's ``genres_original/``, or root)."""
    for cand in (root / "genres", root / "genres_original", root / "Data" / "genres_original", root):
        if cand.is_dir():
            names = {d.name.lower() for d in cand.iterdir() if d.is_dir()}
            if len(names & set(GTZAN_GENRES)) >= min_genres:
                return cand
    return None


def detect_dataset(root: Path) -> str:
    """Guess the layout of ``root`` (a CSV file or a folder); returns a :data:`DATASETS` name."""
    root = Path(root)
    if root.is_file():
        if root.suffix.lower() != ".csv":
            raise ValueError(f"{root}: expected a CSV manifest or a folder, got a {root.suffix or 'extension-less'} file")
        if root.name == "esc50.csv":
            return "esc50"
        if root.name == "UrbanSound8K.csv":
            return "urbansound8k"
        if _is_segments_csv(root):
            return "audioset"
        return "csv"
    if (root / "meta" / "esc50.csv").exists():
        return "esc50"
    if (root / "metadata" / "UrbanSound8K.csv").exists():
        return "urbansound8k"
    segs, index = _audioset_files(root)
    if segs and index is not None:
        return "audioset"
    if (root / "recordings").is_dir() and any(
        _FSDD_NAME.match(p.stem) for p in list((root / "recordings").glob("*.wav"))[:20]
    ):
        return "fsdd"
    if _gtzan_genres_dir(root) is not None:
        return "gtzan"
    sub = {_canon(d.name) for d in root.iterdir() if d.is_dir()}
    if len(sub & {_canon(c) for c in BALLROOM_ALL_CLASSES}) >= 6 and len(sub) <= 14:
        return "extended_ballroom"
    csvs = [p for p in root.glob("*.csv") if _has_filename_column(p)]
    if len(csvs) == 1:
        return "csv"
    return "folder"


def _has_filename_column(p: Path) -> bool:
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError):
        return False
    return any(h.strip() in ("filename", "file", "path", "filepath") for h in header)


def find_csv(root: Path) -> Path:
    """``root`` itself when it is a file, else the single CSV manifest in the folder."""
    if root.is_file():
        return root
    csvs = [p for p in sorted(root.glob("*.csv")) if _has_filename_column(p)]
    if len(csvs) != 1:
        raise ValueError(
            f"{root}: expected one CSV manifest with a 'filename' column in the folder, found "
            f"{[p.name for p in csvs] or 'none'}; pass the CSV file itself"
        )
    return csvs[0]


def _corpus_root(data: Path, marker: str) -> Path:
    """The corpus folder, given either the folder or its metadata file (``marker`` below it)."""
    if data.is_file():
        parts = Path(marker).parts
        root = data
        for _ in parts:
            root = root.parent
        return root
    return data


def _check_vocab(labels: Sequence[str], known: set[str] | None, path: str):
    if known is None:
        return None
    unknown = [lab for lab in labels if lab not in known]
    return BadItem(path, f"unknown label {unknown[0]!r}") if unknown else None


# ---------------------------------------------------------------------------------------------
# ESC-50 and UrbanSound8K: a metadata CSV with predefined folds
# ---------------------------------------------------------------------------------------------
def _load_folds_csv(
    data: Path, *, name: str, meta_rel: str, layout: str, file_col: str, label_col: str, default_group: str,
    path_of, group_column: str | None, classes: Sequence[str] | None,
) -> Manifest:
    """A corpus described by one metadata CSV with a file, a label and a fold column (ESC-50,
    UrbanSound8K): one :class:`Item` per row (``path_of(root, row, fold)``), a :class:`BadItem`
    for an empty or unknown label, the other columns kept in ``extra``."""
    root = _corpus_root(Path(data), meta_rel)
    meta = root / meta_rel
    if not meta.exists():
        raise ValueError(f"{root}: not an {layout}")
    header, rows = read_csv_rows(meta)
    need = {file_col, "fold", label_col}
    if not need <= set(header):
        raise ValueError(f"{meta}: expected columns {sorted(need)}, found {header}")
    gcol = group_column or (default_group if default_group in header else None)
    known = None if classes is None else set(classes)
    out: list = []
    for line, row in enumerate(rows, start=2):
        fold = None if _is_missing(row.get("fold")) else _clean_fold(row["fold"])
        path = path_of(root, row, fold)
        if _is_missing(row.get(label_col)):
            out.append(BadItem(str(path), f"empty {label_col} ({meta_rel} row {line})"))
            continue
        labels = (row[label_col],)
        if (b := _check_vocab(labels, known, str(path))) is not None:
            out.append(b)
            continue
        extra = {k: v for k, v in row.items() if k not in need}
        out.append(Item(path=path, labels=labels, fold=fold, group=row.get(gcol) if gcol else None, extra=extra))
    return _finish(out, multilabel=False, name=name, root=root, classes=classes)


def load_esc50(data: Path, *, group_column: str | None = None, classes: Sequence[str] | None = None) -> Manifest:
    """ESC-50 (Piczak 2015): ``meta/esc50.csv`` (filename, fold, target, category, esc10,
    src_file, take) and ``audio/<filename>``; label = ``category``; 5 predefined folds; group =
    ``src_file`` (clips cut from the same recording; the official folds keep them together)."""
    return _load_folds_csv(
        data, name="esc50", meta_rel="meta/esc50.csv", layout="ESC-50 folder (expected meta/esc50.csv and audio/)",
        file_col="filename", label_col="category", default_group="src_file",
        path_of=lambda root, row, fold: root / "audio" / row["filename"], group_column=group_column, classes=classes,
    )


def load_urbansound8k(data: Path, *, group_column: str | None = None,
                      classes: Sequence[str] | None = None) -> Manifest:
    """UrbanSound8K (Salamon et al. 2014): ``metadata/UrbanSound8K.csv`` (slice_file_name, fsID,
    start, end, salience, fold, classID, class) and ``audio/fold<k>/<slice_file_name>``; label =
    ``class``; 10 predefined folds; group = ``fsID`` (the source recording)."""
    return _load_folds_csv(
        data, name="urbansound8k", meta_rel="metadata/UrbanSound8K.csv",
        layout="UrbanSound8K folder (expected metadata/UrbanSound8K.csv and audio/fold1..10/)",
        file_col="slice_file_name", label_col="class", default_group="fsID",
        path_of=lambda root, row, fold: root / "audio" / f"fold{fold}" / row["slice_file_name"],
        group_column=group_column, classes=classes,
    )


# ---------------------------------------------------------------------------------------------
# GTZAN with the fault-filtered split
# ---------------------------------------------------------------------------------------------
_GTZAN_LISTS = (("train", "train_filtered.txt"), ("val", "valid_filtered.txt"), ("test", "test_filtered.txt"))


def _read_list(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def gtzan_split_lists(genres_dir: Path | None = None) -> tuple[dict[str, list[str]], str]:
    """The fault-filtered lists: the copies shipped with audiocnn, else ones in the dataset folder.

    Returns ``({"train": [...], "val": [...], "test": [...]}, source description)``.
    """
    try:
        pkg = resources.files("audiocnn.data") / "gtzan_fault_filtered"
        lists = {split: _read_list((pkg / fname).read_text()) for split, fname in _GTZAN_LISTS}
        return lists, "fault-filtered split shipped with audiocnn (Kereliuk, Sturm & Larsen 2015)"
    except (FileNotFoundError, OSError, ModuleNotFoundError):
        pass
    if genres_dir is not None:
        for d in (genres_dir, genres_dir.parent, genres_dir.parent / "GTZAN_split", genres_dir.parent / "splits"):
            if all((d / fname).exists() for _, fname in _GTZAN_LISTS):
                lists = {split: _read_list((d / fname).read_text()) for split, fname in _GTZAN_LISTS}
                return lists, f"split lists in {d}"
    raise ValueError(
        "GTZAN: the fault-filtered split lists (train_filtered.txt, valid_filtered.txt, test_filtered.txt) "
        "were not found in the package nor beside the genres/ folder"
    )


def load_gtzan(data: Path, *, use_split: bool = True, classes: Sequence[str] | None = None) -> Manifest:
    """GTZAN (Tzanetakis & Cook 2002): ``genres/<genre>/<genre>.000NN.{wav,au}``.

    With ``use_split`` the items follow the fault-filtered train/val/test split; excerpts outside
    it are recorded in ``bad`` (reason says they are excluded by the split). Without it, all
    excerpts are loaded with no split, for random stratified k-fold.
    """
    data = Path(data)
    gdir = _gtzan_genres_dir(data, min_genres=1)
    if gdir is None:
        raise ValueError(f"{data}: not a GTZAN folder (expected genres/<genre>/<genre>.000NN.wav for the 10 genres)")
    files: dict[tuple[str, str], Path] = {}
    for d in sorted(p for p in gdir.iterdir() if p.is_dir()):
        for f in sorted(d.iterdir()):
            if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS and not f.name.startswith("."):
                files[(d.name.lower(), f.stem.split(".wav")[0])] = f
    known = None if classes is None else set(classes)
    out: list = []
    if not use_split:
        for (genre, _), f in sorted(files.items()):
            if (b := _check_vocab((genre,), known, str(f))) is not None:
                out.append(b)
            else:
                out.append(Item(path=f, labels=(genre,)))
        return _finish(out, multilabel=False, name="gtzan", root=gdir.parent, classes=classes)

    lists, source = gtzan_split_lists(gdir)
    listed: set[tuple[str, str]] = set()
    for split, entries in lists.items():
        for e in entries:
            genre = e.split("/")[0].lower()
            stem = Path(e).name
            stem = stem[: -len(Path(stem).suffix)] if Path(stem).suffix.lower() in AUDIO_EXTENSIONS else stem
            key = (genre, stem)
            listed.add(key)
            path = files.get(key, gdir / e)
            if (b := _check_vocab((genre,), known, str(path))) is not None:
                out.append(b)
                continue
            out.append(Item(path=path, labels=(genre,), split=split, extra={"split_source": source}))
    excluded = [
        BadItem(str(f), "excluded: not in the GTZAN fault-filtered split (faulty or repeated excerpt)")
        for key, f in sorted(files.items()) if key not in listed
    ]
    return _finish(out, multilabel=False, name="gtzan", root=gdir.parent, classes=classes, bad=excluded)


# ---------------------------------------------------------------------------------------------
# Extended Ballroom
# ---------------------------------------------------------------------------------------------
def load_extended_ballroom(data: Path, *, subset: str | Sequence[str] = "8",
                           classes: Sequence[str] | None = None) -> Manifest:
    """Extended Ballroom (Marchand & Peeters, ISMIR 2016 late-breaking demo): one folder per rhythm
    class (``Chacha/``, ``Jive/``, ... ``Wcswing/``) of 30-s mp3 excerpts.

    ``subset="8"`` keeps the 8 classes shared with the original Ballroom set
    (:data:`BALLROOM_8_CLASSES`); files of the other class folders are recorded in ``bad`` as
    excluded. ``"all"`` keeps every class folder; a list keeps those folders (case-insensitive).
    """
    root = Path(data)
    if not root.is_dir():
        raise ValueError(f"{root}: expected the Extended Ballroom folder (one sub-folder per rhythm class)")
    # Some archives nest the class folders one level down (e.g. extended_ballroom/...).
    dirs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
    if len(dirs) == 1 and not ({_canon(d.name) for d in dirs} & {_canon(c) for c in BALLROOM_ALL_CLASSES}):
        root = dirs[0]
        dirs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
    if subset == "all":
        keep = [d.name for d in dirs]
    else:
        wanted = BALLROOM_8_CLASSES if subset in ("8", 8) else tuple(subset)
        wanted_c = {_canon(w) for w in wanted}
        keep = [d.name for d in dirs if _canon(d.name) in wanted_c]
        missing = wanted_c - {_canon(k) for k in keep}
        if missing:
            raise ValueError(
                f"{root}: Extended Ballroom class folders {sorted(missing)} not found "
                f"(sub-folders: {sorted(d.name for d in dirs)})"
            )
    m = load_folder_manifest(root, classes=classes, name="extended_ballroom", class_dirs=keep)
    excluded = []
    for d in sorted(dirs):
        if d.name in keep:
            continue
        for f in sorted(d.rglob("*")):
            if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS:
                excluded.append(BadItem(str(f), f"excluded: class {d.name!r} is not in the chosen Extended Ballroom subset"))
    from dataclasses import replace

    return replace(m, bad=m.bad + tuple(excluded))


# ---------------------------------------------------------------------------------------------
# FSDD
# ---------------------------------------------------------------------------------------------
def load_fsdd(data: Path, *, group_column: str | None = None, classes: Sequence[str] | None = None) -> Manifest:
    """Free Spoken Digit Dataset: ``recordings/<digit>_<speaker>_<take>.wav``.

    The label is the digit and the group the speaker, from the file name; when ``metadata.csv``
    (filename,label,speaker,...) is present its rows are used and checked against the name.
    """
    root = Path(data)
    if root.is_file():
        root = root.parent
    if root.name == "recordings" and not (root / "recordings").is_dir():
        root = root.parent
    rec = root / "recordings"
    if not rec.is_dir():
        raise ValueError(f"{root}: not an FSDD folder (expected recordings/<digit>_<speaker>_<take>.wav)")
    known = None if classes is None else set(classes)
    meta_rows: dict[str, dict[str, str]] = {}
    meta = root / "metadata.csv"
    if meta.exists():
        header, rows = read_csv_rows(meta)
        if "filename" in header:
            for row in rows:
                meta_rows[os.path.normpath(str(root / row["filename"]))] = row
    out: list = []
    paths = {os.path.normpath(str(p)) for p in rec.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS}
    paths |= set(meta_rows)
    for p in sorted(paths):
        path = Path(p)
        m = _FSDD_NAME.match(path.stem)
        row = meta_rows.get(p)
        if m is None and row is None:
            out.append(BadItem(p, "file name does not match <digit>_<speaker>_<take>.wav"))
            continue
        label = m.group(1) if m else row.get("label", "")
        speaker = m.group(2) if m else row.get("speaker")
        if row is not None:
            if not _is_missing(row.get("label")) and m and row["label"] != label:
                out.append(BadItem(p, f"label {row['label']!r} in metadata.csv but {label!r} in the file name"))
                continue
            label = row.get("label") or label
            if group_column:
                speaker = row.get(group_column)
            else:
                speaker = row.get("speaker") or speaker
        if _is_missing(label):
            out.append(BadItem(p, "empty label"))
            continue
        if (b := _check_vocab((label,), known, p)) is not None:
            out.append(b)
            continue
        extra = {k: v for k, v in (row or {}).items() if k not in {"filename", "label", "speaker"}}
        if m:
            extra.setdefault("take", m.group(3))
        out.append(Item(path=path, labels=(label,), group=speaker, extra=extra))
    return _finish(out, multilabel=False, name="fsdd", root=root, classes=classes)


# ---------------------------------------------------------------------------------------------
# AudioSet
# ---------------------------------------------------------------------------------------------
def read_class_index(path: Path) -> tuple[list[str], list[str]]:
    """``class_labels_indices.csv`` (index,mid,display_name) -> (mids, names) in index order.

    Display names are used as class names; a repeated name is made unique with its mid.
    """
    header, rows = read_csv_rows(path)
    if not {"index", "mid", "display_name"} <= set(header):
        raise ValueError(f"{path}: expected columns index,mid,display_name; found {header}")
    rows = sorted(rows, key=lambda r: int(r["index"]))
    mids = [r["mid"] for r in rows]
    names = [r["display_name"] for r in rows]
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    names = [f"{n} ({mid})" if seen[n] > 1 else n for n, mid in zip(names, mids)]
    return mids, names


def _segments_split(name: str) -> str | None:
    n = name.lower()
    if "eval" in n or "test" in n:
        return "test"
    if "train" in n:
        return "train"
    return None


def _read_segments(path: Path) -> list[tuple[str, str, str, list[str]]]:
    out = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        for row in csv.reader(f, skipinitialspace=True):
            if not row or row[0].startswith("#") or row[0].strip() == "YTID":
                continue
            if len(row) < 4:
                out.append((row[0].strip(), "", "", []))
                continue
            mids = [m.strip() for m in ",".join(row[3:]).strip().strip('"').split(",") if m.strip()]
            out.append((row[0].strip(), row[1].strip(), row[2].strip(), mids))
    return out


def _clip_candidates(ytid: str, start: str, end: str) -> list[str]:
    """File stems under which a downloader may have stored a segment's clip."""
    cands = [f"Y{ytid}", ytid]
    try:
        s, e = float(start), float(end)
        for st in {start, f"{s:.3f}", f"{s:g}", str(int(s)), str(int(round(s * 1000)))}:
            cands.append(f"{ytid}_{st}")
            cands.append(f"Y{ytid}_{st}")
        cands += [f"{ytid}_{s:.3f}_{e:.3f}", f"{ytid}_{int(s)}_{int(e)}", f"{ytid}_{int(s * 1000)}_{int(e * 1000)}"]
    except ValueError:
        pass
    return cands


def load_audioset(data: Path, *, group_column: str | None = None,
                  classes: Sequence[str] | None = None) -> Manifest:
    """AudioSet: segment CSVs (``balanced_train_segments.csv``, ``eval_segments.csv``, ...: YTID,
    start_seconds, end_seconds, "positive_labels"), ``class_labels_indices.csv`` (index, mid,
    display_name) and a folder of clips named as the PANNs downloader does (``Y<YTID>.wav``) or
    ``<YTID>_<start>.wav``. Multi-label; split from the CSV name (``eval`` -> test, ``*train*`` ->
    train). ``data`` is the folder, or one segment CSV (then only that split is loaded).

    Segments whose clip is not found get the path they were expected at, so validation reports
    them as missing files (many AudioSet videos are no longer downloadable).
    """
    data = Path(data)
    if data.is_file():
        root = data.parent
        segs = [data]
        _, index = _audioset_files(root)
        if index is None and (root.parent / "class_labels_indices.csv").exists():
            index = root.parent / "class_labels_indices.csv"
            root = root.parent
    else:
        root = data
        segs, index = _audioset_files(root)
    if not segs or index is None:
        raise ValueError(
            f"{data}: not an AudioSet folder (expected *_segments.csv files and class_labels_indices.csv; "
            f"found {len(segs)} segment CSV(s), class index {'present' if index else 'missing'})"
        )
    mids, names = read_class_index(index)
    mid_to_name = dict(zip(mids, names))
    vocab = list(names) if classes is None else list(classes)
    known = set(vocab)
    # Index every audio file below the root by stem (one walk; clips may be in any sub-folder).
    by_stem: dict[str, Path] = {}
    for dirpath, _, fnames in os.walk(root):
        for fn in fnames:
            stem, ext = os.path.splitext(fn)
            if ext.lower() in AUDIO_EXTENSIONS:
                by_stem.setdefault(stem, Path(dirpath) / fn)
    audio_dir = next((root / d for d in ("audios", "audio", "clips", "wavs") if (root / d).is_dir()), root)
    out: list = []
    for seg in segs:
        split = _segments_split(seg.stem)
        for ytid, start, end, seg_mids in _read_segments(seg):
            path = next((by_stem[c] for c in _clip_candidates(ytid, start, end) if c in by_stem), None)
            if path is None:
                path = audio_dir / f"Y{ytid}.wav"
            unknown = [m for m in seg_mids if m not in mid_to_name]
            if unknown:
                out.append(BadItem(str(path), f"unknown label {unknown[0]!r} (not in class_labels_indices.csv)"))
                continue
            labels = tuple(mid_to_name[m] for m in seg_mids)
            if (b := _check_vocab(labels, known, str(path))) is not None:
                out.append(b)
                continue
            out.append(Item(path=path, labels=labels, split=split,
                            extra={"ytid": ytid, "start": start, "end": end, "mids": ",".join(seg_mids),
                                   "segments_csv": seg.name}))
    return _finish(out, multilabel=True, name="audioset", root=root, classes=vocab)
