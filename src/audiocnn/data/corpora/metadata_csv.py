"""Corpora described by one metadata CSV with a file, a label and a fold column (ESC-50,
UrbanSound8K): the shared reader their corpus classes call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from audiocnn.data.csvio import is_missing, read_csv_table
from audiocnn.data.items import BadItem, Item, clean_fold
from audiocnn.data.labels import label_problem
from audiocnn.data.manifest import Manifest, build_manifest

__all__ = ["corpus_root", "load_metadata_csv"]


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
