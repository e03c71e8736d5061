"""Free Spoken Digit Dataset (Jackson et al.): ``recordings/<digit>_<speaker>_<take>.wav``."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from audiocnn.data.corpora.registry import Corpus, register_corpus
from audiocnn.data.csvio import is_missing, read_csv_table
from audiocnn.data.items import AUDIO_EXTENSIONS, BadItem, Item
from audiocnn.data.labels import label_problem
from audiocnn.data.manifest import Manifest, build_manifest

__all__ = ["FSDD", "FSDD_NAME"]

#: ``<digit>_<speaker>_<take>`` file stems.
FSDD_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)$")


@register_corpus
class FSDD(Corpus):
    """FSDD: the label is the digit and the group the speaker, from the file name; when
    ``metadata.csv`` (filename,label,speaker,...) is present its rows are used and checked against
    the name. The folder, its ``recordings/`` or a file in it may be given."""

    name = "fsdd"
    detect_order = 30

    @classmethod
    def detect(cls, path: Path) -> bool:
        rec = path / "recordings"
        return path.is_dir() and rec.is_dir() and any(FSDD_NAME.match(p.stem) for p in list(rec.glob("*.wav"))[:20])

    def load(self, path: Path, *, classes: Sequence[str] | None = None,
             group_column: str | None = None) -> Manifest:
        root = Path(path)
        if root.is_file():
            root = root.parent
        if root.name == "recordings" and not (root / "recordings").is_dir():
            root = root.parent
        rec = root / "recordings"
        if not rec.is_dir():
            raise ValueError(f"{root}: not an FSDD folder (expected recordings/<digit>_<speaker>_<take>.wav)")
        known = None if classes is None else set(classes)
        meta_rows: dict[str, tuple[int, dict[str, str]]] = {}
        meta = root / "metadata.csv"
        if meta.exists():
            table = read_csv_table(meta)
            table.require(["filename"], "(FSDD metadata.csv)")
            if group_column is not None:
                table.require([group_column], "(the group column)")
            for line, row in table.numbered():
                meta_rows[os.path.normpath(str(root / row["filename"]))] = (line, row)
        out: list[Item | BadItem] = []
        paths = {os.path.normpath(str(p)) for p in rec.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS}
        paths |= set(meta_rows)
        for p in sorted(paths):
            out.append(self._item(Path(p), meta_rows.get(p), group_column, known))
        return build_manifest(out, multilabel=False, name=self.name, root=root, classes=classes)

    @staticmethod
    def _item(path: Path, meta: tuple[int, dict[str, str]] | None, group_column: str | None,
              known: set[str] | None) -> Item | BadItem:
        p = str(path)
        m = FSDD_NAME.match(path.stem)
        line, row = meta if meta is not None else (None, None)
        where = f"metadata.csv row {line}" if line is not None else None
        if m is not None:
            label, speaker = m.group(1), m.group(2)
        elif row is not None:
            label, speaker = row.get("label", ""), row.get("speaker")
        else:
            return BadItem(p, "file name does not match <digit>_<speaker>_<take>.wav")
        if row is not None:
            if not is_missing(row.get("label")) and m and row["label"] != label:
                return BadItem(p, f"label {row['label']!r} in metadata.csv but {label!r} in the file name ({where})")
            label = row.get("label") or label
            speaker = row.get(group_column) if group_column else (row.get("speaker") or speaker)
        if is_missing(label):
            return BadItem(p, f"empty label{f' ({where})' if where else ''}")
        problem = label_problem((label,), known)
        if problem is not None:
            return BadItem(p, problem)
        extra = {k: v for k, v in (row or {}).items() if k not in {"filename", "label", "speaker"}}
        if m:
            extra.setdefault("take", m.group(3))
        return Item(path=path, labels=(label,), group=None if is_missing(speaker) else speaker, extra=extra,
                    origin=where)
