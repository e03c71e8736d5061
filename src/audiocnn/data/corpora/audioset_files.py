"""The files of an AudioSet copy: the released segment CSVs, the class index, a black list of
clips, and the audio clips named as the common downloaders name them.

The released segment files (``balanced_train_segments.csv``, ``unbalanced_train_segments.csv``,
``eval_segments.csv``) start with three ``#`` comment lines, then one segment a line::

    --4gqARaEJE, 0.000, 10.000, "/m/068hy,/m/07q6cd_,/m/0bt9lr,/m/0jbk"

(a space after each comma, the label list quoted). Clips are found as ``Y<YTID>.wav`` (the PANNs
download scripts, in ``balanced_train_segments/``, ``unbalanced_train_segments/`` (and its
``..._partNN/`` folders) and ``eval_segments/``) or ``<YTID>_<start>[_<end>].wav`` (seconds with
3 decimals, whole seconds or milliseconds).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from audiocnn.data.csvio import CSVFormatError, read_csv_table, read_text
from audiocnn.data.items import AUDIO_EXTENSIONS, BadItem

__all__ = [
    "AUDIO_FOLDERS",
    "META_FOLDERS",
    "Segment",
    "clip_stems",
    "find_clip",
    "index_audio",
    "is_blacklisted",
    "is_segments_csv",
    "read_blacklist",
    "read_class_index",
    "read_segments",
    "segments_subset",
]

#: Folders (below the AudioSet root) searched for the segment CSVs and the class index.
META_FOLDERS: tuple[str, ...] = ("", "metadata", "meta", "csvs")
#: Folders (below the root) that may hold the clips; the root itself otherwise.
AUDIO_FOLDERS: tuple[str, ...] = ("audios", "audio", "clips", "wavs")

_SUBSET = re.compile(r"^(?P<name>.+?)_segments(?:_part\d+)?$")


@dataclass(frozen=True)
class Segment:
    """One row of a segment CSV: YouTube id, start and end (seconds, as written), label mids, row."""

    ytid: str
    start: str
    end: str
    mids: tuple[str, ...]
    row: int


def is_segments_csv(path: Path) -> bool:
    """True when ``path`` looks like a released segment CSV (``# Segments csv`` / ``YTID`` header)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(400).lstrip("\ufeff")
    except OSError:
        return False
    first = head.splitlines()[:3]
    return head.startswith("# Segments csv") or any(ln.lstrip("# ").startswith("YTID") for ln in first)


def segments_subset(path: Path) -> str:
    """The subset a segment CSV holds: ``balanced_train_segments.csv`` -> ``"balanced_train"``,
    ``unbalanced_train_segments_part03.csv`` -> ``"unbalanced_train"``, ``eval_segments.csv`` ->
    ``"eval"``; another name is kept as it is."""
    m = _SUBSET.match(path.stem)
    return m.group("name") if m else path.stem


def read_segments(path: Path) -> tuple[list[Segment], list[BadItem]]:
    """The segments of a released segment CSV, and a :class:`BadItem` (``"<file> row N"``) for
    each malformed row (fewer than 4 fields, a start or end that is not a number).

    Raises:
        CSVFormatError: the file is not UTF-8.
    """
    text = read_text(path)
    segments: list[Segment] = []
    problems: list[BadItem] = []
    for row, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            cells = next(csv.reader([line], skipinitialspace=True))
        except csv.Error as e:
            problems.append(BadItem(f"{path.name} row {row}", f"malformed CSV ({e})"))
            continue
        cells = [c.strip() for c in cells]
        if cells[0] == "YTID":
            continue  # an uncommented header line
        where = f"{path.name} row {row}"
        if len(cells) < 4:
            problems.append(BadItem(where, f"expected 4 fields (YTID, start_seconds, end_seconds, "
                                           f"\"positive_labels\"), found {len(cells)}"))
            continue
        bad_num = next((c for c in cells[1:3] if not _is_number(c)), None)
        if bad_num is not None:
            problems.append(BadItem(where, f"start/end {bad_num!r} is not a number of seconds"))
            continue
        # Unquoted label lists split into several cells; join them back.
        mids = tuple(m.strip() for m in ",".join(cells[3:]).strip().strip('"').split(",") if m.strip())
        segments.append(Segment(ytid=cells[0], start=cells[1], end=cells[2], mids=mids, row=row))
    return segments, problems


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def read_class_index(path: Path) -> tuple[list[str], list[str]]:
    """``class_labels_indices.csv`` (index,mid,display_name) -> (mids, names) in index order.

    Display names are used as class names; a repeated name is made unique with its mid.

    Raises:
        CSVFormatError: a column is missing or an index is not an integer (names the row).
    """
    table = read_csv_table(path)
    table.require(("index", "mid", "display_name"), "(the AudioSet class index)")
    numbered = []
    for line, row in table.numbered():
        try:
            numbered.append((int(row["index"]), row))
        except ValueError:
            raise CSVFormatError(path, f"index {row['index']!r} is not an integer", row=line) from None
    numbered.sort(key=lambda t: t[0])
    mids = [r["mid"] for _, r in numbered]
    names = [r["display_name"] for _, r in numbered]
    names = [f"{n} ({mid})" if names.count(n) > 1 else n for n, mid in zip(names, mids)]
    return mids, names


def read_blacklist(source: str | os.PathLike | Iterable[str]) -> frozenset[str]:
    """The YouTube ids of a black list: a text file (one entry a line; ``#`` comments and blank
    lines skipped) or an iterable of entries.

    An entry is a YouTube id (``--PJHxphWEs``), a clip name (``Y--PJHxphWEs.wav``), or a line
    whose first field starts with the id and an underscore (``--PJHxphWEs_30.000_40.000.wav``,
    the DCASE lists the PANNs code reads); YouTube ids are 11 characters.

    Raises:
        FileNotFoundError: the file does not exist.
        CSVFormatError: the file is not UTF-8.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: black list file not found")
        entries: Iterable[str] = read_text(path).splitlines()
    else:
        entries = source
    ids: set[str] = set()
    for raw in entries:
        line = str(raw).strip()
        if not line or line.startswith("#"):
            continue
        e = re.split(r"[\s,]+", line)[0].strip('"')
        if Path(e).suffix.lower() in AUDIO_EXTENSIONS:
            e = e[: -len(Path(e).suffix)]
        ids.add(e)
        if e.startswith("Y") and len(e) == 12:
            ids.add(e[1:])
        for start in (0, 1):
            if len(e) > start + 11 and e[start + 11] == "_" and (start == 0 or e[0] == "Y"):
                ids.add(e[start: start + 11])
    return frozenset(ids)


def is_blacklisted(ytid: str, ids: frozenset[str]) -> bool:
    """True when the segment's YouTube id is in the black list ``ids`` (:func:`read_blacklist`)."""
    return ytid in ids or f"Y{ytid}" in ids


def index_audio(root: Path) -> dict[str, list[Path]]:
    """Every audio file below ``root`` by file stem (sorted walk, so the result is reproducible)."""
    by_stem: dict[str, list[Path]] = {}
    for dirpath, dirnames, fnames in os.walk(root):
        dirnames.sort()
        for fn in sorted(fnames):
            stem, ext = os.path.splitext(fn)
            if ext.lower() in AUDIO_EXTENSIONS:
                by_stem.setdefault(stem, []).append(Path(dirpath) / fn)
    return by_stem


def clip_stems(ytid: str, start: str, end: str) -> list[str]:
    """File stems under which a downloader may have stored a segment's clip, most common first."""
    stems = [f"Y{ytid}", ytid]
    try:
        s, e = float(start), float(end)
    except ValueError:
        return stems
    for st in dict.fromkeys([start, f"{s:.3f}", f"{s:g}", str(int(s)), str(int(round(s * 1000)))]):
        stems += [f"{ytid}_{st}", f"Y{ytid}_{st}"]
    stems += [f"{ytid}_{s:.3f}_{e:.3f}", f"{ytid}_{s:g}_{e:g}", f"{ytid}_{int(s)}_{int(e)}",
              f"{ytid}_{int(round(s * 1000))}_{int(round(e * 1000))}"]
    return list(dict.fromkeys(stems))


def _split_folder(path: Path) -> str | None:
    """The subset of the ``<subset>_segments[_partNN]`` folder a clip is in, if any."""
    for parent in list(path.parents)[:3]:
        m = _SUBSET.match(parent.name)
        if m:
            return m.group("name")
    return None


def find_clip(segment: Segment, subset: str, by_stem: dict[str, list[Path]], audio_dir: Path) -> Path:
    """The clip of ``segment`` (from :func:`index_audio`): a file in the subset's own
    ``<subset>_segments`` folder first, then one outside any subset folder, then any other.
    A clip not found gets the path it was expected at (``<audio_dir>/<subset>_segments/Y<id>.wav``
    when that folder exists), so validation reports it as a missing file."""
    best: tuple[int, int, Path] | None = None
    for order, stem in enumerate(clip_stems(segment.ytid, segment.start, segment.end)):
        for p in by_stem.get(stem, ()):
            folder = _split_folder(p)
            rank = 0 if folder == subset else (1 if folder is None else 2)
            if best is None or (rank, order) < best[:2]:
                best = (rank, order, p)
    if best is not None:
        return best[2]
    own = audio_dir / f"{subset}_segments"
    return (own if own.is_dir() else audio_dir) / f"Y{segment.ytid}.wav"

