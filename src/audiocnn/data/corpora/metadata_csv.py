"""Corpora described by one metadata CSV with a file, a label and a fold column (ESC-50,
UrbanSound8K): the shared reader, and :class:`MetadataCsvCorpus`, the corpus class that is
declared by its metadata file and columns alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

from audiocnn.data.corpora.registry import Corpus
from audiocnn.data.csvio import is_missing, read_csv_table
from audiocnn.data.items import BadItem, Item, clean_fold
from audiocnn.data.labels import label_problem
from audiocnn.data.manifest import Manifest, build_manifest

__all__ = ["MetadataCsvCorpus", "corpus_root", "load_metadata_csv"]


def corpus_root(data: Path, marker: str) -> Path:
    """The corpus folder, given either the folder or its metadata file (``marker`` below the folder)."""
    if data.is_file():
        root = data
        for _ in Path(marker).parts:
            root = root.parent
        return root
    return data


def load_metadata_csv(
    data: Path, *, name: str, meta_rel: str, layout: str, file_col: str, label_col: str,
    default_group: str, path_of: Callable[[Path, dict[str, str], str | None], Path],
    group_column: str | None, classes: Sequence[str] | None,
) -> Manifest:
    """One :class:`Item` per row of ``<root>/<meta_rel>`` (path ``path_of(root, row, fold)``,
    label from ``label_col``, fold from ``fold``, group from ``group_column`` or ``default_group``,
    the other columns in ``extra``); a :class:`BadItem` for an empty or unknown label.

    Raises:
        ValueError: the metadata file is missing (``layout`` says what was expected) or lacks a column.
    """
    root = corpus_root(Path(data), meta_rel)
    meta = root / meta_rel
    if not meta.exists():
        raise ValueError(f"{root}: not an {layout}")
    table = read_csv_table(meta)
    need = (file_col, "fold", label_col)
    table.require(need, f"(the {name} metadata)")
    if group_column is not None:
        table.require([group_column], "(the group column)")
    gcol = group_column or (default_group if default_group in table.header else None)
    known = None if classes is None else set(classes)
    out: list[Item | BadItem] = []
    for line, row in table.numbered():
        where = f"{meta.name} row {line}"
        fold = None if is_missing(row.get("fold")) else clean_fold(row["fold"])
        path = path_of(root, row, fold)
        if is_missing(row.get(label_col)):
            out.append(BadItem(str(path), f"empty {label_col} ({where})"))
            continue
        labels = (row[label_col],)
        problem = label_problem(labels, known)
        if problem is not None:
            out.append(BadItem(str(path), f"{problem} ({where})"))
            continue
        extra = {k: v for k, v in row.items() if k not in need}
        group = row.get(gcol) if gcol else None
        out.append(Item(path=path, labels=labels, fold=fold, group=None if is_missing(group) else group,
                        extra=extra, origin=where))
    return build_manifest(out, multilabel=False, name=name, root=root, classes=classes)


class MetadataCsvCorpus(Corpus):
    """A corpus read from one metadata CSV (:func:`load_metadata_csv`), declared by class attributes.

    Class attributes:
        meta_rel: the metadata file below the corpus folder (``"meta/esc50.csv"``); the folder or
            this file may be given, and a path is detected as the corpus by it.
        layout: what the folder was expected to hold, for the error message.
        file_col, label_col: the columns of the audio file name and of the label.
        default_group: the column that groups items when no ``group_column`` is given.

    :meth:`audio_path` says where a row's audio file is.
    """

    meta_rel: ClassVar[str] = ""
    layout: ClassVar[str] = ""
    file_col: ClassVar[str] = ""
    label_col: ClassVar[str] = ""
    default_group: ClassVar[str] = ""

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.name == Path(cls.meta_rel).name if path.is_file() else (path / cls.meta_rel).is_file()

    @classmethod
    def audio_path(cls, root: Path, row: dict[str, str], fold: str | None) -> Path:
        """The audio file of metadata ``row`` (its ``fold`` cleaned) in the corpus folder ``root``."""
        raise NotImplementedError

    def load(self, path: Path, *, classes: Sequence[str] | None = None,
             group_column: str | None = None) -> Manifest:
        return load_metadata_csv(
            path, name=self.name, meta_rel=self.meta_rel, layout=self.layout, file_col=self.file_col,
            label_col=self.label_col, default_group=self.default_group, path_of=self.audio_path,
            group_column=group_column, classes=classes,
        )
