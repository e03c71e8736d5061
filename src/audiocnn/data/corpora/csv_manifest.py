"""A CSV manifest (``filename,label[,fold,split,group,...]``), given as the file or as a folder
holding exactly one such CSV. The format is described in :mod:`audiocnn.data.manifest_csv`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from audiocnn.data.corpora.registry import Corpus, register_corpus
from audiocnn.data.csvio import read_csv_header
from audiocnn.data.manifest import Manifest, load_csv_manifest
from audiocnn.data.manifest_csv import FILENAME_COLUMNS

__all__ = ["CSVManifest", "find_csv", "has_filename_column"]


def has_filename_column(path: Path) -> bool:
    """True when the CSV's header has a file column (``filename``, ``file``, ``path``, ``filepath``)."""
    return any(h in FILENAME_COLUMNS for h in read_csv_header(path))


def find_csv(root: Path) -> Path:
    """``root`` itself when it is a file, else the single CSV manifest in the folder.

    Raises:
        ValueError: the folder holds no CSV manifest, or several.
    """
    if root.is_file():
        return root
    csvs = [p for p in sorted(root.glob("*.csv")) if has_filename_column(p)]
    if len(csvs) != 1:
        raise ValueError(
            f"{root}: expected one CSV manifest with a 'filename' column in the folder, found "
            f"{[p.name for p in csvs] or 'none'}; pass the CSV file itself"
        )
    return csvs[0]


@register_corpus
class CSVManifest(Corpus):
    """A CSV manifest file; ``label_column`` names the column of the single label."""

    name = "csv"
    detect_order = 900
    options = {"label_column": "label_column"}

    def __init__(self, label_column: str = "label"):
        self.label_column = label_column

    @classmethod
    def detect(cls, path: Path) -> bool:
        if path.is_file():
            return path.suffix.lower() == ".csv"
        return path.is_dir() and len([p for p in path.glob("*.csv") if has_filename_column(p)]) == 1

    def load(self, path: Path, *, classes: Sequence[str] | None = None,
             group_column: str | None = None) -> Manifest:
        return load_csv_manifest(find_csv(path), group_column=group_column, label_column=self.label_column,
                                 classes=classes)
