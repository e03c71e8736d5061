"""UrbanSound8K (Salamon, Jacoby & Bello 2014): ``metadata/UrbanSound8K.csv`` and ``audio/fold<k>/``."""

from __future__ import annotations

from pathlib import Path

from audiocnn.data.corpora.metadata_csv import MetadataCsvCorpus
from audiocnn.data.corpora.registry import register_corpus

__all__ = ["UrbanSound8K"]


@register_corpus
class UrbanSound8K(MetadataCsvCorpus):
    """UrbanSound8K: ``metadata/UrbanSound8K.csv`` (slice_file_name, fsID, start, end, salience,
    fold, classID, class) and ``audio/fold<k>/<slice_file_name>``; label = ``class``; 10
    predefined folds; group = ``fsID`` (the source recording). The folder or the metadata file
    may be given."""

    name = "urbansound8k"
    aliases = ("us8k", "urbansound")
    detect_order = 10
    meta_rel = "metadata/UrbanSound8K.csv"
    layout = "UrbanSound8K folder (expected metadata/UrbanSound8K.csv and audio/fold1..10/)"
    file_col, label_col, default_group = "slice_file_name", "class", "fsID"

    @classmethod
    def audio_path(cls, root: Path, row: dict[str, str], fold: str | None) -> Path:
        return root / "audio" / f"fold{fold}" / row["slice_file_name"]
