"""UrbanSound8K (Salamon, Jacoby & Bello 2014): ``metadata/UrbanSound8K.csv`` and ``audio/fold<k>/``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from audiocnn.data.corpora.metadata_csv import load_metadata_csv
from audiocnn.data.corpora.registry import Corpus, register_corpus
from audiocnn.data.manifest import Manifest

__all__ = ["UrbanSound8K"]


@register_corpus
class UrbanSound8K(Corpus):
    """UrbanSound8K: ``metadata/UrbanSound8K.csv`` (slice_file_name, fsID, start, end, salience,
    fold, classID, class) and ``audio/fold<k>/<slice_file_name>``; label = ``class``; 10
    predefined folds; group = ``fsID`` (the source recording). The folder or the metadata file
    may be given."""

    name = "urbansound8k"
    aliases = ("us8k", "urbansound")
    detect_order = 10

    @classmethod
    def detect(cls, path: Path) -> bool:
        if path.is_file():
            return path.name == "UrbanSound8K.csv"
        return (path / "metadata" / "UrbanSound8K.csv").is_file()

    def load(self, path: Path, *, classes: Sequence[str] | None = None,
             group_column: str | None = None) -> Manifest:
        return load_metadata_csv(
            path, name=self.name, meta_rel="metadata/UrbanSound8K.csv",
            layout="UrbanSound8K folder (expected metadata/UrbanSound8K.csv and audio/fold1..10/)",
            file_col="slice_file_name", label_col="class", default_group="fsID",
            path_of=lambda root, row, fold: root / "audio" / f"fold{fold}" / row["slice_file_name"],
            group_column=group_column, classes=classes,
        )
