"""Class names for a model's outputs.

Sources, in order of preference (see :func:`resolve_labels`):

1. what the caller gives: a list of names, a ``class_labels_indices.csv``-style file
   (``index,mid,display_name``, as AudioSet ships), any CSV with a ``display_name``, ``label``
   or ``name`` column, or a text file with one name per line;
2. the ``labels`` entry of an audiocnn checkpoint's metadata;
3. ``class_0``, ``class_1``, ...
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["default_labels", "read_labels", "resolve_labels"]

log = logging.getLogger(__name__)

_NAME_COLUMNS = ("display_name", "label", "name", "class", "class_name")


def default_labels(num_classes: int) -> list[str]:
    return [f"class_{i}" for i in range(num_classes)]


def read_labels(path: str | os.PathLike) -> list[str]:
    """Read class names from a file.

    - CSV with a header containing ``display_name`` (AudioSet's ``class_labels_indices.csv``),
      ``label``, ``name``, ``class`` or ``class_name``: that column, ordered by the ``index``
      column when there is one (indices must then be exactly ``0..n-1``).
    - Otherwise one name per line (blank lines and ``#`` comments skipped).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: empty file, or an ``index`` column that is not ``0..n-1``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: labels file not found")
    text = path.read_text(encoding="utf-8-sig")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ValueError(f"{path}: no labels in file")
    header = next(csv.reader([lines[0]]))
    lowered = [h.strip().lower() for h in header]
    name_col = next((c for c in _NAME_COLUMNS if c in lowered), None)
    if name_col is not None and len(header) > 1:
        rows = list(csv.DictReader(lines))
        key = header[lowered.index(name_col)]
        names = [row[key].strip() for row in rows]
        if "index" in lowered:
            idx_key = header[lowered.index("index")]
            try:
                indices = [int(row[idx_key]) for row in rows]
            except (TypeError, ValueError) as e:
                raise ValueError(f"{path}: non-integer value in the index column ({e})") from e
            if sorted(indices) != list(range(len(indices))):
                raise ValueError(f"{path}: the index column must hold 0..{len(indices) - 1} exactly once each")
            ordered = [""] * len(names)
            for i, n in zip(indices, names):
                ordered[i] = n
            names = ordered
        return names
    return [ln.strip() for ln in lines]


def resolve_labels(
    labels: str | os.PathLike | Sequence[str] | None,
    num_classes: int,
    metadata: dict | None = None,
) -> list[str]:
    """The class names for a model with ``num_classes`` outputs.

    Args:
        labels: a list of names, a path to a labels file (:func:`read_labels`) or None.
        num_classes: the model's output size; a list of another length is an error.
        metadata: checkpoint metadata; its ``labels`` entry is used when ``labels`` is None.
    """
    source = "default"
    if labels is None and metadata and metadata.get("labels"):
        labels, source = list(metadata["labels"]), "checkpoint metadata"
    if labels is None:
        return default_labels(num_classes)
    if isinstance(labels, (str, os.PathLike)):
        source = str(labels)
        names = read_labels(labels)
    else:
        names = [str(n) for n in labels]
        source = source if source != "default" else "the given list"
    if len(names) != num_classes:
        raise ValueError(f"{source} has {len(names)} labels but the model has {num_classes} outputs")
    return names
