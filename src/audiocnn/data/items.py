"""The rows of a manifest: :class:`Item` (one labelled audio file), :class:`BadItem` (a file or row
that cannot be used, with the reason) and :class:`BadDataError`, plus the small value rules they
share (split names, fold ids, natural sort order)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "AUDIO_EXTENSIONS",
    "BadDataError",
    "BadItem",
    "Item",
    "SPLITS",
    "clean_fold",
    "natural_key",
    "normalise_split",
]

#: File extensions treated as audio when walking folders.
AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {".wav", ".flac", ".ogg", ".mp3", ".au", ".aiff", ".aif", ".opus"}
)

#: The split roles an item can have (``Item.split``).
SPLITS: tuple[str, ...] = ("train", "val", "test")

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

_PANDAS_INT = re.compile(r"^[+-]?\d+\.0+$")


@dataclass(frozen=True)
class Item:
    """One labelled audio file.

    Attributes:
        path: absolute path of the audio file.
        labels: exactly one label for single-label data; 0..n for multi-label data.
        fold: predefined fold id (ESC-50 ``"1"``..``"5"``, US8K ``"1"``..``"10"``, CSV ``fold``).
        split: ``"train"``, ``"val"`` or ``"test"`` when the data has a fixed split (the role the
            item plays; a corpus's own subset name, such as AudioSet's ``"eval"``, is in
            ``extra["subset"]``).
        group: value of the group column (e.g. the speaker), if any.
        extra: other metadata columns, as strings.
        origin: where the item was listed (``"meta.csv row 12"``), for messages; not compared.
    """

    path: Path
    labels: tuple[str, ...]
    fold: str | None = None
    split: str | None = None
    group: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict, hash=False)
    origin: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class BadItem:
    """A file (or manifest row) that cannot be used, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class BadDataError(ValueError):
    """Raised by :func:`~audiocnn.data.validate.validate_manifest` when files are bad; lists every one.

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


def natural_key(s: str | None) -> tuple:
    """Sort key putting numbers in numeric order (``"2"`` before ``"10"``), then text."""
    text = str(s)
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def normalise_split(value: str | None) -> str | None:
    """``"valid"``/``"dev"`` -> ``"val"``, ``"eval"`` -> ``"test"``...; ``""`` -> None.

    Raises:
        KeyError: not a split name.
    """
    if value is None:
        return None
    v = value.strip().lower()
    if not v:
        return None
    return _SPLIT_ALIASES[v]


def clean_fold(value: str) -> str:
    """``"1.0"`` -> ``"1"`` (folds written by pandas as floats match integer folds); else unchanged."""
    s = value.strip()
    if _PANDAS_INT.match(s):
        return str(int(float(s)))
    return s
