"""The CSV manifest format: rows of a table <-> :class:`~audiocnn.data.items.Item` objects.

Columns (one row per audio file):

========== ====================================================================================
filename   the audio file, relative to the CSV's folder or absolute (``file``, ``path`` and
           ``filepath`` are accepted too)
label      the single label (single-label data; another column with ``label_column=``)
labels     ``;``-separated labels (multi-label data, used when there is no ``label`` column;
           an empty cell is an item with no label)
fold       predefined fold id (optional)
split      ``train`` / ``val`` / ``test`` (optional; ``valid``, ``dev``, ``eval`` accepted)
group      group id, e.g. the speaker (optional; ``speaker`` is taken too, or ``group_column=``)
others     kept as strings in ``Item.extra``
========== ====================================================================================

:func:`items_to_rows` writes exactly what :func:`items_from_table` reads back, so a manifest of any
corpus can be exported, edited and loaded again.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from audiocnn.data.csvio import CSVFormatError, CSVTable, is_missing
from audiocnn.data.items import BadItem, Item, clean_fold, normalise_split
from audiocnn.data.labels import join_labels, label_problem, split_labels

__all__ = ["FILENAME_COLUMNS", "ParsedRows", "items_from_table", "items_to_rows"]

#: Accepted names of the file column, in order of preference.
FILENAME_COLUMNS: tuple[str, ...] = ("filename", "file", "path", "filepath")
_GROUP_COLUMNS = ("group", "speaker")


@dataclass(frozen=True)
class ParsedRows:
    """What :func:`items_from_table` found: items and row problems (in row order), and the task."""

    rows: tuple[Item | BadItem, ...]
    multilabel: bool


def _file_column(table: CSVTable) -> str:
    col = next((c for c in FILENAME_COLUMNS if c in table.header), None)
    if col is None:
        raise CSVFormatError(table.path, "missing column 'filename' (the audio file, relative to the CSV's "
                                         f"folder); found columns {list(table.header)}", row=1)
    return col


def items_from_table(table: CSVTable, *, label_column: str = "label", group_column: str | None = None,
                     known: Collection[str] | None = None, known_name: str | None = None) -> ParsedRows:
    """Turn the rows of a CSV manifest into items (see the module docstring for the columns).

    Args:
        table: the decoded CSV.
        label_column: column of the single label; when absent, a ``labels`` column makes the data
            multi-label.
        group_column: column of the group id; default ``group`` or ``speaker`` when present.
        known: the class list in force; a row with another label becomes a :class:`BadItem`.
        known_name: how to name ``known`` in those reasons.

    Raises:
        CSVFormatError: a required column is missing (row 1, with the columns found).
    """
    header = table.header
    fcol = _file_column(table)
    if label_column in header:
        lcol, multilabel = label_column, False
    elif "labels" in header:
        lcol, multilabel = "labels", True
    else:
        raise CSVFormatError(table.path, f"missing column {label_column!r} (or 'labels', ';'-separated, for "
                                         f"multi-label data); found columns {list(header)}", row=1)
    if group_column is not None and group_column not in header:
        raise CSVFormatError(table.path, f"group column {group_column!r} not found; columns are {list(header)}", row=1)
    if group_column is None:
        group_column = next((c for c in _GROUP_COLUMNS if c in header), None)
    fold_col = "fold" if "fold" in header else None
    split_col = "split" if "split" in header else None
    used = {fcol, lcol, fold_col, split_col, group_column}
    root = table.path.parent
    name = table.path.name
    out: list[Item | BadItem] = []
    for line, row in table.numbered():
        where = f"{name} row {line}"
        fname = row.get(fcol, "")
        if is_missing(fname):
            out.append(BadItem(where, f"empty {fcol}"))
            continue
        path = Path(fname)
        path = Path(os.path.normpath(path if path.is_absolute() else root / path))
        raw = row.get(lcol, "")
        if multilabel:
            labels = split_labels(raw)
        elif is_missing(raw):
            out.append(BadItem(str(path), f"empty label ({where})"))
            continue
        else:
            labels = (raw,)
        problem = label_problem(labels, known)
        if problem is not None:
            not_in = f"not in {known_name}; " if known_name and problem.startswith("unknown") else ""
            out.append(BadItem(str(path), f"{problem} ({not_in}{where})"))
            continue
        split = None
        if split_col:
            try:
                split = normalise_split(row.get(split_col))
            except KeyError:
                out.append(BadItem(str(path), f"unknown split {row.get(split_col)!r} (expected train/val/test; {where})"))
                continue
        cell = row.get(fold_col) if fold_col else None
        fold = clean_fold(cell) if cell is not None and not is_missing(cell) else None
        group = row.get(group_column) if group_column else None
        group = None if is_missing(group) else group
        extra = {k: v for k, v in row.items() if k not in used}
        out.append(Item(path=path, labels=labels, fold=fold, split=split, group=group, extra=extra, origin=where))
    if fold_col and any(isinstance(r, Item) and r.fold is None for r in out) and any(
        isinstance(r, Item) and r.fold is not None for r in out
    ):
        out = [
            BadItem(str(r.path), f"no fold (the fold column is empty on this row; {r.origin})")
            if isinstance(r, Item) and r.fold is None else r
            for r in out
        ]
    return ParsedRows(rows=tuple(out), multilabel=multilabel)


def _relative(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` when it lies below it, else absolute (``/`` separators)."""
    try:
        return Path(path).relative_to(folder).as_posix()
    except ValueError:
        return str(path)


def items_to_rows(items: Sequence[Item], *, multilabel: bool, csv_dir: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the CSV manifest holding ``items`` (the file column relative to ``csv_dir``
    when below it). Optional columns are written only when some item has a value for them;
    ``extra`` keys follow, in first-seen order (an item without a key gets an empty cell).

    Raises:
        ValueError: an ``extra`` key is one of the format's own columns, or a multi-label label
            contains ``;``.
    """
    label_col = "labels" if multilabel else "label"
    header = ["filename", label_col]
    optional = [("fold", lambda it: it.fold), ("split", lambda it: it.split), ("group", lambda it: it.group)]
    optional = [(c, get) for c, get in optional if any(get(it) is not None for it in items)]
    header += [c for c, _ in optional]
    extra_keys: list[str] = []
    for it in items:
        for k in it.extra:
            if k not in extra_keys:
                extra_keys.append(k)
    reserved = set(FILENAME_COLUMNS) | {"label", "labels", "fold", "split", "group"}
    clash = [k for k in extra_keys if k in reserved]
    if clash:
        raise ValueError(f"extra metadata key(s) {clash} clash with the manifest's own columns; rename them")
    header += extra_keys
    rows = []
    for it in items:
        if multilabel:
            cell = join_labels(it.labels)
        else:
            cell = it.labels[0] if len(it.labels) == 1 else join_labels(it.labels)
        row = [_relative(it.path, csv_dir), cell]
        row += ["" if get(it) is None else str(get(it)) for _, get in optional]
        row += [str(it.extra.get(k, "")) for k in extra_keys]
        rows.append(row)
    return header, rows
