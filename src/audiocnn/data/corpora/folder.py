"""A folder with one sub-folder per class: ``root/<class>/**/<file>.wav``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from audiocnn.data.corpora.registry import Corpus, register_corpus
from audiocnn.data.items import AUDIO_EXTENSIONS, BadItem, Item
from audiocnn.data.labels import label_problem
from audiocnn.data.manifest import Manifest, build_manifest

__all__ = ["ClassFolders", "load_folder_manifest", "subfolders"]


def subfolders(root: Path) -> list[Path]:
    """The visible sub-folders of ``root``, sorted."""
    return sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


def load_folder_manifest(root: str | os.PathLike, *, classes: Sequence[str] | None = None,
                         name: str | None = None, class_dirs: Sequence[str] | None = None) -> Manifest:
    """A folder with one sub-folder per class (audio files anywhere below each sub-folder).

    Args:
        root: the folder.
        classes: a fixed class list; files of other class folders become ``problems``.
        name: the manifest name (default ``folder:<root name>``).
        class_dirs: only these sub-folders are classes (default: all).

    Hidden files are ignored; other non-audio files and audio files directly in ``root`` are
    recorded in ``bad`` (so they are visible in reports) but do not stop a run.

    Raises:
        ValueError: ``root`` is not a folder, or holds no audio file in a class sub-folder.
    """
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise ValueError(f"{root}: expected a folder with one sub-folder per class")
    subdirs = subfolders(root)
    if class_dirs is not None:
        subdirs = [d for d in subdirs if d.name in set(class_dirs)]
    ignored: list[BadItem] = []
    for f in sorted(root.iterdir()):
        if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in AUDIO_EXTENSIONS:
            ignored.append(BadItem(str(f), "ignored: audio file not inside a class sub-folder"))
    out: list[Item | BadItem] = []
    known = None if classes is None else set(classes)
    for d in subdirs:
        files = sorted(p for p in d.rglob("*") if p.is_file() and not p.name.startswith("."))
        for p in files:
            if p.suffix.lower() not in AUDIO_EXTENSIONS:
                ignored.append(BadItem(str(p), f"ignored: {p.suffix or 'no extension'} is not an audio file extension"))
                continue
            problem = label_problem((d.name,), known)
            out.append(Item(path=p, labels=(d.name,)) if problem is None else BadItem(str(p), problem))
    if not out:
        raise ValueError(
            f"{root}: no audio files found in class sub-folders (expected {root}/<class>/<file>.wav; "
            f"sub-folders found: {[d.name for d in subdirs][:10]})"
        )
    return build_manifest(out, multilabel=False, name=name or f"folder:{root.name}", root=root,
                          classes=classes, bad=ignored)


@register_corpus
class ClassFolders(Corpus):
    """A folder with one sub-folder per class; the fallback layout of auto-detection."""

    name = "folder"
    aliases = ("folders", "class_folders")
    detect_order = 1000

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.is_dir()

    def load(self, path: Path, *, classes: Sequence[str] | None = None,
             group_column: str | None = None) -> Manifest:
        return load_folder_manifest(path, classes=classes)
