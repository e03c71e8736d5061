"""Manifests: the list of labelled audio files a run uses.

A :class:`Manifest` is immutable. A corpus (:mod:`audiocnn.data.corpora`) builds it from a CSV
file, a folder with one sub-folder per class or the native layout of a known corpus;
:func:`~audiocnn.data.validate.validate_manifest` then checks it, and either stops with the full
list of bad files or drops them and records every one in ``manifest.bad`` so reports can list
them. Nothing silently disappears.

:meth:`Manifest.to_csv` writes any manifest as a CSV manifest (plus a ``<name>.classes.txt`` file
with the class list) that :meth:`Manifest.from_csv` and ``load_manifest(csv)`` read back into the
same items, classes and task, so a corpus can be exported, edited and fed back.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from audiocnn.atomic import write_text_atomic
from audiocnn.data.csvio import CSVFormatError, read_csv_table, read_text, write_csv
from audiocnn.data.items import BadItem, Item, natural_key
from audiocnn.data.manifest_csv import items_from_table, items_to_rows

__all__ = ["Manifest", "build_manifest", "classes_file", "load_csv_manifest"]


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
            skipped yet: ``validate_manifest`` reports them with the rest, or with
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
        return sorted(ids, key=natural_key)

    def has_split(self) -> bool:
        """True when items carry a train/val/test split and at least one is ``"test"``."""
        return any(it.split == "test" for it in self.items)

    def has_groups(self) -> bool:
        return bool(self.items) and all(it.group is not None for it in self.items)

    def groups(self) -> np.ndarray:
        """``(n,)`` object array of group values (None where missing)."""
        return np.array([it.group for it in self.items], dtype=object)

    def split_names(self) -> list[str]:
        """The split roles (``train``/``val``/``test``) and corpus subsets (``extra["subset"]``,
        e.g. AudioSet's ``balanced_train``/``unbalanced_train``/``eval``) present, sorted."""
        names = {it.split for it in self.items if it.split} | {it.extra.get("subset") for it in self.items}
        return sorted(n for n in names if n)

    def select_split(self, name: str) -> Manifest:
        """The items whose split role or corpus subset is ``name``.

        ``m.select_split("eval")`` keeps AudioSet's evaluation segments; ``"test"`` keeps every
        item in the test role (AudioSet eval, GTZAN test, a CSV's ``split == test``).

        Raises:
            ValueError: no item has that split (the message lists those present).
        """
        keep = [i for i, it in enumerate(self.items) if name in (it.split, it.extra.get("subset"))]
        if not keep:
            raise ValueError(f"{self.name}: no item in split {name!r} (splits present: {self.split_names() or 'none'})")
        return self.subset(keep)

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

    def label_counts(self) -> dict[str, int]:
        """Items per class (multi-label: positives per class), every class of the vocabulary listed."""
        counts = Counter(lab for it in self.items for lab in it.labels)
        return {c: counts.get(c, 0) for c in self.classes}

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
        out: dict = {
            "name": self.name,
            "root": str(self.root),
            "items": len(self.items),
            "classes": len(self.classes),
            "multilabel": self.multilabel,
            "per_class": self.label_counts(),
            "bad": len(self.bad),
            "problems": len(self.problems),
        }
        if any(it.fold is not None for it in self.items):
            folds = Counter(it.fold for it in self.items)
            out["per_fold"] = {str(k): folds[k] for k in sorted(folds, key=lambda f: natural_key(str(f)))}
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

    # -- CSV round trip --------------------------------------------------------------------
    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write the items as a CSV manifest and the class list beside it; returns ``path``.

        Writes ``path`` (columns ``filename``, ``label`` or ``labels``, and ``fold``, ``split``,
        ``group`` and the ``extra`` keys when present; files below the CSV's folder are written
        relative to it) and :func:`classes_file` of it (one class per line, in order). Both are
        written atomically. ``bad`` and ``problems`` are not items and are not written.

        Raises:
            ValueError: a class name is empty or holds a line break, an ``extra`` key clashes with
                a column of the format, or a multi-label label contains ``;``.
            audiocnn.atomic.OutputError: a file cannot be written.
        """
        path = Path(os.path.abspath(path))
        for c in self.classes:
            if not c.strip() or "\n" in c or "\r" in c or c != c.strip():
                raise ValueError(f"{self.name}: class {c!r} cannot be written to {classes_file(path).name} "
                                 "(empty, surrounding spaces or a line break)")
        header, rows = items_to_rows(self.items, multilabel=self.multilabel, csv_dir=path.parent)
        write_text_atomic(classes_file(path), "".join(f"{c}\n" for c in self.classes))
        return write_csv(path, header, rows)

    @classmethod
    def from_csv(cls, path: str | os.PathLike, *, classes: Sequence[str] | None = None,
                 group_column: str | None = None, label_column: str = "label") -> Manifest:
        """Read a CSV manifest (as :meth:`to_csv` writes it, or written by hand); see
        :func:`load_csv_manifest`."""
        return load_csv_manifest(path, classes=classes, group_column=group_column, label_column=label_column)


def classes_file(csv_path: str | os.PathLike) -> Path:
    """The class-list file that goes with a CSV manifest: ``meta.csv`` -> ``meta.classes.txt``."""
    p = Path(csv_path)
    return p.with_name(f"{p.stem}.classes.txt")


def build_manifest(
    rows: Iterable[Item | BadItem],
    *,
    multilabel: bool,
    name: str,
    root: Path,
    classes: Sequence[str] | None,
    bad: Sequence[BadItem] = (),
) -> Manifest:
    """Assemble a manifest from items and loader problems (:class:`BadItem` rows go to
    ``problems``); the vocabulary is ``classes`` or, when None, the labels found, naturally sorted.

    Raises:
        ValueError: ``classes`` has duplicates.
    """
    items: list[Item] = []
    problems: list[BadItem] = []
    for r in rows:
        if isinstance(r, Item):
            items.append(r)
        else:
            problems.append(r)
    if classes is None:
        vocab = tuple(sorted({lab for it in items for lab in it.labels}, key=natural_key))
    else:
        vocab = tuple(classes)
        dup = sorted({c for c in vocab if vocab.count(c) > 1})
        if dup:
            raise ValueError(f"{name}: the class list has duplicates: {dup}")
    return Manifest(items=tuple(items), classes=vocab, multilabel=multilabel, name=name, root=root,
                    bad=tuple(bad), problems=tuple(problems))


def _read_classes_file(path: Path) -> tuple[str, ...]:
    lines = [ln.strip() for ln in read_text(path).splitlines()]
    names = tuple(ln for ln in lines if ln)
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        raise CSVFormatError(path, f"class(es) {dup} listed more than once")
    return names


def load_csv_manifest(
    csv_path: str | os.PathLike,
    *,
    group_column: str | None = None,
    label_column: str = "label",
    classes: Sequence[str] | None = None,
) -> Manifest:
    """A CSV manifest: ``filename`` (relative to the CSV's folder, or absolute) and ``label``.

    Optional columns: ``fold``, ``split`` (train/val/test; valid/dev/eval accepted), a group
    column, and ``labels`` (``;``-separated) for multi-label data; other columns go to
    ``Item.extra`` (see :mod:`audiocnn.data.manifest_csv`). The class list is ``classes``, else
    the ``<name>.classes.txt`` file beside the CSV (written by :meth:`Manifest.to_csv`), else the
    labels found, sorted. Rows with a label outside that list are reported as problems.

    Raises:
        CSVFormatError: the file is not UTF-8, is not a CSV, or lacks a required column (the
            message names the file, the row and the rule).
    """
    csv_path = Path(os.path.abspath(csv_path))
    table = read_csv_table(csv_path)
    known_name = None
    if classes is None and classes_file(csv_path).is_file():
        classes = _read_classes_file(classes_file(csv_path))
        known_name = classes_file(csv_path).name
    parsed = items_from_table(table, label_column=label_column, group_column=group_column,
                              known=None if classes is None else set(classes), known_name=known_name)
    return build_manifest(parsed.rows, multilabel=parsed.multilabel, name=f"csv:{csv_path.name}",
                          root=csv_path.parent, classes=classes)
