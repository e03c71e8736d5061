"""ESC-50 (Piczak 2015): ``meta/esc50.csv`` and ``audio/<filename>``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from audiocnn.data.corpora.metadata_csv import load_metadata_csv
from audiocnn.data.corpora.registry import Corpus, register_corpus
from audiocnn.data.manifest import Manifest

__all__ = ["ESC50"]


@register_corpus
class ESC50(Corpus):
    """ESC-50: ``meta/esc50.csv`` (filename, fold, target, category, esc10, src_file, take) and
    ``audio/<filename>``; label = ``category``; 5 predefined folds; group = ``src_file`` (clips cut
    from the same recording; the official folds keep them together). The folder or the metadata
    file may be given."""

    name = "esc50"
    aliases = ("esc_50",)
    detect_order = 10

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.name == "esc50.csv" if path.is_file() else (path / "meta" / "esc50.csv").is_file()

    def load(self, path: Path, *, classes: Sequence[str] | None = None,
             group_column: str | None = None) -> Manifest:
        return load_metadata_csv(
            path, name=self.name, meta_rel="meta/esc50.csv",
            layout="ESC-50 folder (expected meta/esc50.csv and audio/)",
            file_col="filename", label_col="category", default_group="src_file",
            path_of=lambda root, row, fold: root / "audio" / row["filename"],
            group_column=group_column, classes=classes,
        )
