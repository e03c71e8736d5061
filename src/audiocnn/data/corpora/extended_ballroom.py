"""Extended Ballroom (Marchand & Peeters, ISMIR 2016 late-breaking demo): one folder per rhythm class."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from audiocnn.data.corpora.folder import load_folder_manifest, subfolders
from audiocnn.data.corpora.registry import Corpus, register_corpus
from audiocnn.data.items import AUDIO_EXTENSIONS, BadItem
from audiocnn.data.manifest import Manifest

__all__ = ["BALLROOM_8_CLASSES", "BALLROOM_ALL_CLASSES", "ExtendedBallroom", "canonical_class"]

#: The class folders of the Extended Ballroom set.
BALLROOM_ALL_CLASSES = (
    "Chacha", "Foxtrot", "Jive", "Pasodoble", "Quickstep", "Rumba", "Salsa", "Samba",
    "Slowwaltz", "Tango", "Viennesewaltz", "Waltz", "Wcswing",
)
#: The 8 rhythm classes shared with the original Ballroom set (Gouyon et al., ISMIR 2004).
BALLROOM_8_CLASSES = ("Chacha", "Jive", "Quickstep", "Rumba", "Samba", "Tango", "Viennesewaltz", "Waltz")

_CANON = {c.lower() for c in BALLROOM_ALL_CLASSES}


def canonical_class(name: str) -> str:
    """A class folder name reduced to lower-case letters, with common spellings merged
    (``"Cha-cha-cha"`` -> ``"chacha"``, ``"Viennese"`` -> ``"viennesewaltz"``)."""
    s = re.sub(r"[^a-z]", "", name.lower())
    return {"chachacha": "chacha", "viennese": "viennesewaltz", "slowfoxtrot": "foxtrot",
            "westcoastswing": "wcswing"}.get(s, s)


@register_corpus
class ExtendedBallroom(Corpus):
    """Extended Ballroom: ``Chacha/``, ``Jive/``, ... ``Wcswing/`` folders of 30-s mp3 excerpts
    (also nested one level down, as some archives unpack).

    ``subset="8"`` (default) keeps the 8 classes shared with the original Ballroom set
    (:data:`BALLROOM_8_CLASSES`); files of the other class folders are recorded in ``bad`` as
    excluded. ``"all"`` keeps every class folder; a list keeps those folders (case-insensitive).
    """

    name = "extended_ballroom"
    aliases = ("ballroom", "eballroom")
    detect_order = 50
    options = {"ballroom_classes": "subset"}

    def __init__(self, subset: str | Sequence[str] = "8"):
        self.subset = subset

    @classmethod
    def detect(cls, path: Path) -> bool:
        if not path.is_dir():
            return False
        sub = {canonical_class(d.name) for d in subfolders(path)}
        return len(sub & _CANON) >= 6 and len(sub) <= 14

    def load(self, path: Path, *, classes: Sequence[str] | None = None,
             group_column: str | None = None) -> Manifest:
        root = Path(path)
        if not root.is_dir():
            raise ValueError(f"{root}: expected the Extended Ballroom folder (one sub-folder per rhythm class)")
        dirs = subfolders(root)
        if len(dirs) == 1 and canonical_class(dirs[0].name) not in _CANON:
            root = dirs[0]
            dirs = subfolders(root)
        if self.subset == "all":
            keep = [d.name for d in dirs]
        else:
            wanted = BALLROOM_8_CLASSES if self.subset in ("8", 8) else tuple(self.subset)
            wanted_c = {canonical_class(w) for w in wanted}
            keep = [d.name for d in dirs if canonical_class(d.name) in wanted_c]
            missing = wanted_c - {canonical_class(k) for k in keep}
            if missing:
                raise ValueError(
                    f"{root}: Extended Ballroom class folders {sorted(missing)} not found "
                    f"(sub-folders: {sorted(d.name for d in dirs)})"
                )
        m = load_folder_manifest(root, classes=classes, name=self.name, class_dirs=keep)
        excluded = [
            BadItem(str(f), f"excluded: class {d.name!r} is not in the chosen Extended Ballroom subset")
            for d in dirs if d.name not in keep
            for f in sorted(d.rglob("*")) if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS
        ]
        return replace(m, bad=m.bad + tuple(excluded))
