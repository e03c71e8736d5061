"""Manifests: the list of labelled audio files a run uses, and the checks that keep it honest.

A :class:`Manifest` is immutable. It is built by :func:`load_manifest` from a CSV file, a folder
with one sub-folder per class, or the native layout of a known corpus (see
:mod:`audiocnn.data.formats`), then checked by :func:`validate_manifest`, which either stops with
the full list of bad files (:class:`BadDataError`) or, with ``skip_bad=True``, drops them and
records every one in ``manifest.bad`` so reports can list them. Nothing silently disappears.
"""

from __future__ import annotations

import csv
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

__all__ = [
    "AUDIO_EXTENSIONS",
    "BadDataError",
    "BadItem",
    "DATASETS",
    "Item",
    "Manifest",
    "apply_bad",
    "load_manifest",
    "validate_manifest",
]

#: The accepted ``dataset`` names (``--dataset``); ``None`` means auto-detect.
DATASETS: tuple[str, ...] = (
    "csv",
    "folder",
    "esc50",
    "urbansound8k",
    "gtzan",
    "extended_ballroom",
    "fsdd",
    "audioset",
)

#: File extensions treated as audio when walking folders.
AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {".wav", ".flac", ".ogg", ".mp3", ".au", ".aiff", ".aif", ".opus"}
)

_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
    "eval": "test",
    "evaluation": "test",
}


@dataclass(frozen=True)
class Item:
    """One labelled audio file.

    Attributes:
        path: absolute path of the audio file.
        labels: exactly one label for single-label data; 0..n for multi-label data.
        fold: predefined fold id (ESC-50 ``"1"``..``"5"``, US8K ``"1"``..``"10"``, CSV ``fold``).
        split: ``"train"``, ``"val"`` or ``"test"`` when the data has a fixed split.
        group: value of the group column (e.g. the speaker), if any.
        extra: other metadata columns, as strings.
    """

    path: Path
    labels: tuple[str, ...]
    fold: str | None = None
    split: str | None = None
    group: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class BadItem:
    """A file (or manifest row) that cannot be used, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class BadDataError(ValueError):
    """Raised by :func:`validate_manifest` when files are bad; lists every one of them.

    Attributes:
        bad: the :class:`BadItem` list.
    """

    def __init__(self, bad: Sequence[BadItem], name: str = "data"):
        self.bad = tuple(bad)
        lines = "\n".join(f"  {b.path}: {b.reason}" for b in self.bad)
        super().__init__(
            f"{len(self.bad)} bad file(s) in {name}:\n{lines}\n"
            "Fix or remove them, or skip them with skip_bad=True (--skip-bad); skipped files are "
            "listed in the report."
        )


@dataclass(frozen=True)
class Manifest:
    """An immutable list of labelled items plus the label vocabulary.

    Attributes:
        items: the usable items.
        classes: label vocabulary, sorted (AudioSet: in ``class_labels_indices.csv`` order).
        multilabel: True for tagging data (``targets()`` rows may hold 0..n ones).
        name: a short description (``"esc50"``, ``"csv:meta.csv"``, ``"folder:my_dir"``...).
        root: the folder the data was found in.
        bad: files that were skipped, each with the reason (reports list them).
        problems: rows the loader could not turn into items (e.g. an unknown label). They are not
            skipped yet: :func:`validate_manifest` reports them with the rest, or with
            ``skip_bad=True`` moves them into ``bad``.
    """

    items: tuple[Item, ...]
    classes: tuple[str, ...]
    multilabel: bool
    name: str
    root: Path
    bad: tuple[BadItem, ...] = ()
    problems: tuple[BadItem, ...] = ()

    def __len__(self) -> int:
        return len(self.items)

    # -- structure -------------------------------------------------------------------------
    def has_folds(self) -> bool:
        """True when every item has a predefined fold id."""
        return bool(self.items) and all(it.fold is not None for it in self.items)

    def fold_ids(self) -> list[str]:
        """The predefined fold ids, sorted numerically when they are numbers."""
        ids = {it.fold for it in self.items if it.fold is not None}
        return sorted(ids, key=_natural_key)

    def has_split(self) -> bool:
        """True when items carry a train/val/test split and at least one is ``"test"``."""
        return any(it.split == "test" for it in self.items)

    def has_groups(self) -> bool:
        return bool(self.items) and all(it.group is not None for it in self.items)

    def groups(self) -> np.ndarray:
        """``(n,)`` object array of group values (None where missing)."""
        return np.array([it.group for it in self.items], dtype=object)

    # -- targets ---------------------------------------------------------------------------
    def class_index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def label_indices(self) -> np.ndarray:
        """``(n,)`` int64 class index of each item (single-label data)."""
        if self.multilabel:
            raise ValueError(f"{self.name}: label_indices() needs single-label data; use targets()")
        index = self.class_index()
        return np.array([index[it.labels[0]] for it in self.items], dtype=np.int64)

    def targets(self) -> np.ndarray:
        """``(n, classes)`` float32 multi-hot targets (one-hot for single-label data)."""
        index = self.class_index()
        out = np.zeros((len(self.items), len(self.classes)), dtype=np.float32)
        for i, it in enumerate(self.items):
            for lab in it.labels:
                out[i, index[lab]] = 1.0
        return out

    def stratify_labels(self) -> np.ndarray:
        """``(n,)`` one class index per item, for stratified splitting.

        Single-label: the class. Multi-label: the item's rarest label (-1 when it has none), a
        common approximation since scikit-learn has no multi-label stratification.
        """
        if not self.multilabel:
            return self.label_indices()
        index = self.class_index()
        counts = Counter(lab for it in self.items for lab in it.labels)
        out = np.full(len(self.items), -1, dtype=np.int64)
        for i, it in enumerate(self.items):
            if it.labels:
                out[i] = index[min(it.labels, key=lambda lab: (counts[lab], lab))]
        return out

    # -- derived manifests -----------------------------------------------------------------
    def subset(self, indices: Iterable[int] | np.ndarray) -> Manifest:
        """The items at ``indices`` (same classes, name, root and bad list)."""
        idx = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return replace(self, items=tuple(self.items[int(i)] for i in idx))

    def summary(self) -> dict:
        """Counts per class / fold / split / group, for reports (plain JSON-able dict)."""
        per_class = Counter(lab for it in self.items for lab in it.labels)
        out: dict = {
            "name": self.name,
            "root": str(self.root),
            "items": len(self.items),
            "classes": len(self.classes),
            "multilabel": self.multilabel,
            "per_class": {c: per_class.get(c, 0) for c in self.classes},
            "bad": len(self.bad),
            "problems": len(self.problems),
        }
        if any(it.fold is not None for it in self.items):
            folds = Counter(it.fold for it in self.items)
            out["per_fold"] = {str(k): folds[k] for k in sorted(folds, key=lambda f: _natural_key(str(f)))}
        if any(it.split is not None for it in self.items):
            splits = Counter(it.split for it in self.items)
            out["per_split"] = {str(k): v for k, v in sorted(splits.items(), key=lambda kv: str(kv[0]))}
        if any(it.group is not None for it in self.items):
            groups = Counter(it.group for it in self.items)
            out["groups"] = len(groups)
            out["per_group"] = {str(k): v for k, v in sorted(groups.items(), key=lambda kv: str(kv[0]))}
        if self.multilabel:
            out["labels_per_item"] = (
                float(np.mean([len(it.labels) for it in self.items])) if self.items else 0.0
            )
        return out


def _natural_key(s: str):
    try:
        return (0, float(s), s)
    except (TypeError, ValueError):
        return (1, 0.0, str(s))


def normalise_split(value: str | None) -> str | None:
    """``"valid"``/``"dev"`` -> ``"val"``, ``"eval"`` -> ``"test"``...; ``""`` -> None; else KeyError."""
    if value is None:
        return None
    v = value.strip().lower()
    if not v:
        return None
    return _SPLIT_ALIASES[v]


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------
def apply_bad(manifest: Manifest, bad: Sequence[BadItem], *, skip_bad: bool = False) -> Manifest:
    """Handle a list of bad files found later (e.g. by :meth:`AudioCache.preload`).

    Raises :class:`BadDataError` listing all of them, or (``skip_bad``) returns the manifest
    without those files and with ``bad`` extended.
    """
    bad = list(bad)
    if not bad:
        return manifest
    if not skip_bad:
        raise BadDataError(bad, manifest.name)
    drop = {os.path.normpath(b.path) for b in bad}
    kept = tuple(it for it in manifest.items if os.path.normpath(str(it.path)) not in drop)
    return replace(manifest, items=kept, bad=manifest.bad + tuple(bad))


def _header_problem(path: Path) -> str | None:
    """Cheap check of one file: exists, opens as audio, has samples. None when fine."""
    import soundfile as sf

    try:
        st = path.stat()
    except FileNotFoundError:
        return "file not found"
    except OSError as e:
        return f"cannot stat ({e.strerror or e})"
    if path.is_dir():
        return "is a directory, not an audio file"
    if st.st_size == 0:
        return "empty file (0 bytes)"
    try:
        info = sf.info(str(path))
    except Exception as e:  # libsndfile's error for corrupt / unsupported files
        msg = getattr(e, "error_string", None) or str(e)
        msg = str(msg).strip().replace(str(path), "").strip(" :'\"")
        return f"not a readable audio file ({msg})" if msg else "not a readable audio file"
    if info.frames == 0:
        return "0 samples (zero-length audio)"
    if info.samplerate <= 0:
        return f"invalid sample rate {info.samplerate}"
    return None


def validate_manifest(
    manifest: Manifest,
    *,
    skip_bad: bool = False,
    check_audio: bool = True,
    cache=None,
    num_workers: int = 0,
    progress: bool = True,
) -> Manifest:
    """Check every item; stop with the full list of problems or skip them (``skip_bad``).

    Checks: rows the loader flagged (``manifest.problems``: unknown/empty label...), a file listed
    twice (``"duplicate filename"``; with different folds ``"listed in folds 1 and 3"``; with
    different labels or splits likewise), items without a label in single-label data, and with
    ``check_audio`` that each file exists, opens as audio (soundfile header, cheap) and is not
    empty. With ``cache`` (an :class:`~audiocnn.data.cache.AudioCache`) every file is also fully
    decoded and resampled into the cache, which catches NaN/inf samples and corrupt data past the
    header and means training will not decode again.

    Returns:
        The manifest (unchanged when all is well; with ``skip_bad``, without the bad files and
        with them appended to ``bad``; ``problems`` is then empty).

    Raises:
        BadDataError: listing every bad file with its reason (not only the first).
    """
    bad: list[BadItem] = list(manifest.problems)
    drop: set[int] = set()

    # Duplicates: group item indices by normalised path.
    by_path: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(manifest.items):
        by_path[os.path.normcase(os.path.normpath(str(it.path)))].append(i)
    for _, idxs in by_path.items():
        if len(idxs) < 2:
            continue
        its = [manifest.items[i] for i in idxs]
        p = str(its[0].path)
        folds = sorted({str(it.fold) for it in its if it.fold is not None}, key=_natural_key)
        splits = sorted({it.split for it in its if it.split is not None})
        labelsets = sorted({";".join(it.labels) for it in its})
        if len(folds) > 1:
            bad.append(BadItem(p, f"listed in folds {' and '.join(folds)}"))
            drop.update(idxs)
        elif len(splits) > 1:
            bad.append(BadItem(p, f"listed in splits {' and '.join(splits)}"))
            drop.update(idxs)
        elif len(labelsets) > 1:
            bad.append(BadItem(p, f"listed with different labels ({' / '.join(labelsets)})"))
            drop.update(idxs)
        else:
            # Same row repeated: keep the first copy, report the repeats.
            bad.append(BadItem(p, f"duplicate filename (listed {len(idxs)} times; first copy kept)"))
            drop.update(idxs[1:])

    if not manifest.multilabel:
        for i, it in enumerate(manifest.items):
            if len(it.labels) != 1 and i not in drop:
                bad.append(BadItem(str(it.path), f"expected exactly one label, got {len(it.labels)}"))
                drop.add(i)
    known = set(manifest.classes)
    for i, it in enumerate(manifest.items):
        unknown = [lab for lab in it.labels if lab not in known]
        if unknown and i not in drop:
            bad.append(BadItem(str(it.path), f"unknown label {unknown[0]!r}"))
            drop.add(i)

    if check_audio:
        from tqdm.auto import tqdm

        todo = [i for i in range(len(manifest.items)) if i not in drop]
        checked = set()
        for i in tqdm(todo, desc=f"checking {manifest.name}", unit="file",
                      disable=not progress or len(todo) < 200, leave=False):
            p = manifest.items[i].path
            key = str(p)
            if key in checked:
                continue
            checked.add(key)
            reason = _header_problem(p)
            if reason is not None:
                bad.append(BadItem(key, reason))
                drop.add(i)
        if cache is not None:
            todo = [manifest.items[i].path for i in range(len(manifest.items)) if i not in drop]
            decode_bad = cache.preload(todo, num_workers=num_workers, progress=progress)
            bad_paths = {os.path.normpath(b.path) for b in decode_bad}
            bad.extend(decode_bad)
            for i, it in enumerate(manifest.items):
                if os.path.normpath(str(it.path)) in bad_paths:
                    drop.add(i)

    if not bad:
        return manifest
    if not skip_bad:
        raise BadDataError(bad, manifest.name)
    kept = tuple(it for i, it in enumerate(manifest.items) if i not in drop)
    return replace(manifest, items=kept, bad=manifest.bad + tuple(bad), problems=())


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
def load_manifest(
    data: str | os.PathLike,
    dataset: str | None = None,
    *,
    group_column: str | None = None,
    label_column: str = "label",
    classes: Sequence[str] | None = None,
    gtzan_split: bool = True,
    ballroom_classes: str | Sequence[str] = "8",
) -> Manifest:
    """Build a manifest from a CSV file, a class-folder tree or a known corpus layout.

    Args:
        data: a CSV file or a folder.
        dataset: one of :data:`DATASETS`, or None to detect it from the layout (a ``.csv`` file is
            a CSV manifest, or AudioSet segments; a folder is recognised as ESC-50, UrbanSound8K,
            GTZAN, FSDD, AudioSet, Extended Ballroom, a folder holding one CSV manifest, or else a
            folder with one sub-folder per class).
        group_column: CSV column whose value groups items that must stay on the same side of a
            split (e.g. ``speaker``). Default for CSVs: a column named ``group`` or ``speaker`` if
            present; FSDD: the speaker.
        label_column: CSV column holding the single label (``labels``, ``;``-separated, is used
            for multi-label data when ``label_column`` is absent).
        classes: a fixed label vocabulary (e.g. a checkpoint's); rows with other labels are
            reported as ``unknown label``. Default: the labels found, sorted.
        gtzan_split: GTZAN only: True (default) uses the fault-filtered train/val/test split and
            records the excluded excerpts in ``bad``; False loads all 1,000 excerpts without a
            split (for random k-fold).
        ballroom_classes: Extended Ballroom only: ``"8"`` (default) keeps the 8 classes of the
            original Ballroom set; ``"all"`` keeps every class folder; or a list of folder names.

    Raises:
        FileNotFoundError: ``data`` does not exist.
        ValueError: the layout is unusable (message says what was expected and what was found).
    """
    from audiocnn.data import formats

    root = Path(data).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such file or folder")
    root = Path(os.path.abspath(root))
    if dataset is not None:
        dataset = dataset.lower().replace("-", "_")
        aliases = {"us8k": "urbansound8k", "urbansound": "urbansound8k", "esc_50": "esc50",
                   "ballroom": "extended_ballroom", "eballroom": "extended_ballroom"}
        dataset = aliases.get(dataset, dataset)
        if dataset not in DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    else:
        dataset = formats.detect_dataset(root)
    kwargs = dict(group_column=group_column, label_column=label_column, classes=classes)
    if dataset == "csv":
        return load_csv_manifest(formats.find_csv(root), **kwargs)
    if dataset == "folder":
        return load_folder_manifest(root, classes=classes)
    if dataset == "gtzan":
        return formats.load_gtzan(root, use_split=gtzan_split, classes=classes)
    if dataset == "extended_ballroom":
        return formats.load_extended_ballroom(root, subset=ballroom_classes, classes=classes)
    loader = {
        "esc50": formats.load_esc50,
        "urbansound8k": formats.load_urbansound8k,
        "fsdd": formats.load_fsdd,
        "audioset": formats.load_audioset,
    }[dataset]
    return loader(root, group_column=group_column, classes=classes)


def _finish(
    rows: list[tuple[Item, None] | tuple[None, BadItem]] | list,
    *,
    multilabel: bool,
    name: str,
    root: Path,
    classes: Sequence[str] | None,
    bad: Sequence[BadItem] = (),
) -> Manifest:
    """Assemble a manifest from items and loader problems; derive or check the vocabulary."""
    items: list[Item] = []
    problems: list[BadItem] = []
    for r in rows:
        (items if isinstance(r, Item) else problems).append(r)
    if classes is None:
        vocab = tuple(sorted({lab for it in items for lab in it.labels}, key=_natural_key))
    else:
        vocab = tuple(classes)
        if len(set(vocab)) != len(vocab):
            raise ValueError(f"{name}: the class list has duplicates")
    return Manifest(
        items=tuple(items),
        classes=vocab,
        multilabel=multilabel,
        name=name,
        root=root,
        bad=tuple(bad),
        problems=tuple(problems),
    )


def read_csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV (utf-8, BOM tolerated; cells stripped)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f, skipinitialspace=True)
        header = [h.strip() for h in (reader.fieldnames or [])]
        rows = []
        for raw in reader:
            row = {}
            for k, v in raw.items():
                if k is None:  # more cells than header columns
                    continue
                row[k.strip()] = ("" if v is None else str(v)).strip()
            rows.append(row)
    return header, rows


def _is_missing(v: str | None) -> bool:
    if v is None:
        return True
    s = v.strip()
    if not s or s.lower() in {"nan", "none", "null", "na"}:
        return True
    try:
        return math.isnan(float(s))
    except ValueError:
        return False


def load_csv_manifest(
    csv_path: str | os.PathLike,
    *,
    group_column: str | None = None,
    label_column: str = "label",
    classes: Sequence[str] | None = None,
) -> Manifest:
    """A CSV manifest: ``filename`` (relative to the CSV's folder, or absolute) and ``label``.

    Optional columns: ``fold``, ``split`` (train/val/test; valid/dev/eval accepted), a group
    column, and ``labels`` (``;``-separated) for multi-label data. Other columns go to
    ``Item.extra``.
    """
    csv_path = Path(os.path.abspath(csv_path))
    root = csv_path.parent
    header, rows = read_csv_rows(csv_path)
    name = f"csv:{csv_path.name}"
    fcol = next((c for c in ("filename", "file", "path", "filepath") if c in header), None)
    if fcol is None:
        raise ValueError(f"{csv_path}: needs a 'filename' column (relative to the CSV's folder); found columns {header}")
    if label_column in header:
        lcol, multilabel = label_column, False
    elif "labels" in header:
        lcol, multilabel = "labels", True
    else:
        raise ValueError(
            f"{csv_path}: needs a {label_column!r} column (or 'labels', ';'-separated, for multi-label data); "
            f"found columns {header}"
        )
    if group_column is not None and group_column not in header:
        raise ValueError(f"{csv_path}: group column {group_column!r} not found; columns are {header}")
    if group_column is None:
        group_column = next((c for c in ("group", "speaker") if c in header), None)
    fold_col = "fold" if "fold" in header else None
    split_col = "split" if "split" in header else None
    used = {fcol, lcol, fold_col, split_col, group_column}
    out: list = []
    known = None if classes is None else set(classes)
    for line, row in enumerate(rows, start=2):
        fname = row.get(fcol, "")
        if not fname:
            out.append(BadItem(f"{csv_path.name}:{line}", "empty filename"))
            continue
        path = Path(fname)
        path = Path(os.path.normpath(path if path.is_absolute() else root / path))
        raw = row.get(lcol, "")
        if multilabel:
            labels = tuple(lab.strip() for lab in raw.split(";") if lab.strip())
        else:
            if _is_missing(raw):
                out.append(BadItem(str(path), f"empty label (row {line})"))
                continue
            labels = (raw,)
        if known is not None:
            unknown = [lab for lab in labels if lab not in known]
            if unknown:
                out.append(BadItem(str(path), f"unknown label {unknown[0]!r}"))
                continue
        split = None
        if split_col:
            try:
                split = normalise_split(row.get(split_col))
            except KeyError:
                out.append(BadItem(str(path), f"unknown split {row.get(split_col)!r} (expected train/val/test)"))
                continue
        fold = row.get(fold_col) if fold_col else None
        fold = None if _is_missing(fold) else _clean_fold(fold)
        group = row.get(group_column) if group_column else None
        group = None if _is_missing(group) else group
        extra = {k: v for k, v in row.items() if k not in used}
        out.append(Item(path=path, labels=labels, fold=fold, split=split, group=group, extra=extra))
    if fold_col and any(isinstance(r, Item) and r.fold is None for r in out) and any(
        isinstance(r, Item) and r.fold is not None for r in out
    ):
        out = [
            BadItem(str(r.path), "no fold (the fold column is empty on this row)")
            if isinstance(r, Item) and r.fold is None else r
            for r in out
        ]
    return _finish(out, multilabel=multilabel, name=name, root=root, classes=classes)


def _clean_fold(v: str) -> str:
    """``"1.0"`` -> ``"1"`` so folds written by pandas match integer folds."""
    s = v.strip()
    try:
        f = float(s)
        if f.is_integer():
            return str(int(f))
    except ValueError:
        pass
    return s


def load_folder_manifest(root: str | os.PathLike, *, classes: Sequence[str] | None = None,
                         name: str | None = None, class_dirs: Sequence[str] | None = None) -> Manifest:
    """A folder with one sub-folder per class (audio files anywhere below each sub-folder).

    Hidden files are ignored; other non-audio files and audio files directly in ``root`` are
    recorded in ``bad`` (so they are visible in reports) but do not stop a run.
    """
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise ValueError(f"{root}: expected a folder with one sub-folder per class")
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if class_dirs is not None:
        subdirs = [d for d in subdirs if d.name in set(class_dirs)]
    ignored: list[BadItem] = []
    for f in sorted(root.iterdir()):
        if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in AUDIO_EXTENSIONS:
            ignored.append(BadItem(str(f), "ignored: audio file not inside a class sub-folder"))
    out: list = []
    known = None if classes is None else set(classes)
    for d in subdirs:
        files = sorted(p for p in d.rglob("*") if p.is_file() and not p.name.startswith("."))
        for p in files:
            if p.suffix.lower() not in AUDIO_EXTENSIONS:
                ignored.append(BadItem(str(p), f"ignored: {p.suffix or 'no extension'} is not an audio file extension"))
                continue
            if known is not None and d.name not in known:
                out.append(BadItem(str(p), f"unknown label {d.name!r}"))
                continue
            out.append(Item(path=p, labels=(d.name,)))
    if not any(isinstance(r, Item) for r in out) and not any(isinstance(r, BadItem) for r in out):
        raise ValueError(
            f"{root}: no audio files found in class sub-folders (expected {root}/<class>/<file>.wav; "
            f"sub-folders found: {[d.name for d in subdirs][:10]})"
        )
    return _finish(out, multilabel=False, name=name or f"folder:{root.name}", root=root,
                   classes=classes, bad=ignored)
