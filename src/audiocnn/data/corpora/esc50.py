"""ESC-50 (Piczak 2015): ``meta/esc50.csv`` and ``audio/<filename>``."""

from __future__ import annotations

from pathlib import Path

from audiocnn.data.corpora.metadata_csv import MetadataCsvCorpus
from audiocnn.data.corpora.registry import register_corpus

__all__ = ["ESC50"]


@register_corpus
class ESC50(MetadataCsvCorpus):
    """ESC-50: ``meta/esc50.csv`` (filename, fold, target, category, esc10, src_file, take) and
    ``audio/<filename>``; label = ``category``; 5 predefined folds; group = ``src_file`` (clips cut
    from the same recording; the official folds keep them together). The folder or the metadata
    file may be given."""

    name = "esc50"
    aliases = ("esc_50",)
    detect_order = 10
    meta_rel = "meta/esc50.csv"
    layout = "ESC-50 folder (expected meta/esc50.csv and audio/)"
    file_col, label_col, default_group = "filename", "category", "src_file"

    @classmethod
    def audio_path(cls, root: Path, row: dict[str, str], fold: str | None) -> Path:
        return root / "audio" / row["filename"]
