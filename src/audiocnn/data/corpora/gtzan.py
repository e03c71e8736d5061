"""GTZAN (Tzanetakis & Cook 2002) with the fault-filtered split (Kereliuk, Sturm & Larsen 2015)."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from audiocnn.data.corpora.registry import Corpus, register_corpus
from audiocnn.data.items import AUDIO_EXTENSIONS, BadItem, Item
from audiocnn.data.labels import label_problem
from audiocnn.data.manifest import Manifest, build_manifest

__all__ = ["GTZAN", "GTZAN_GENRES", "gtzan_genres_dir", "gtzan_split_lists"]

GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")

_LISTS = (("train", "train_filtered.txt"), ("val", "valid_filtered.txt"), ("test", "test_filtered.txt"))


def gtzan_genres_dir(root: Path, min_genres: int = 5) -> Path | None:
    """The folder holding the genre folders (``genres/``, Kaggle's ``genres_original/``, or root)."""
    for cand in (root / "genres", root / "genres_original", root / "Data" / "genres_original", root):
        if cand.is_dir():
            names = {d.name.lower() for d in cand.iterdir() if d.is_dir()}
            if len(names & set(GTZAN_GENRES)) >= min_genres:
                return cand
    return None


def _read_list(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def gtzan_split_lists(genres_dir: Path | None = None) -> tuple[dict[str, list[str]], str]:
    """The fault-filtered lists: the copies shipped with audiocnn, else ones in the dataset folder.

    Returns:
        ``({"train": [...], "val": [...], "test": [...]}, source description)``.

    Raises:
        ValueError: no copy of the three lists was found.
    """
    try:
        pkg = resources.files("audiocnn.data") / "gtzan_fault_filtered"
        lists = {split: _read_list((pkg / fname).read_text()) for split, fname in _LISTS}
        return lists, "fault-filtered split shipped with audiocnn (Kereliuk, Sturm & Larsen 2015)"
    except (FileNotFoundError, OSError, ModuleNotFoundError):
        pass
    if genres_dir is not None:
        for d in (genres_dir, genres_dir.parent, genres_dir.parent / "GTZAN_split", genres_dir.parent / "splits"):
            if all((d / fname).exists() for _, fname in _LISTS):
                lists = {split: _read_list((d / fname).read_text()) for split, fname in _LISTS}
                return lists, f"split lists in {d}"
    raise ValueError(
        "GTZAN: the fault-filtered split lists (train_filtered.txt, valid_filtered.txt, test_filtered.txt) "
        "were not found in the package nor beside the genres/ folder"
    )


@register_corpus
class GTZAN(Corpus):
    """GTZAN: ``genres/<genre>/<genre>.000NN.{wav,au}`` (also Kaggle's ``genres_original/``).

    With ``use_split`` (default) the items follow the fault-filtered train/val/test split;
    excerpts outside it are recorded in ``bad`` (the reason says they are excluded by the split).
    Without it, all excerpts are loaded with no split, for random stratified k-fold.
    """

    name = "gtzan"
    detect_order = 40
    options = {"gtzan_split": "use_split"}

    def __init__(self, use_split: bool = True):
        self.use_split = use_split

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.is_dir() and gtzan_genres_dir(path) is not None

    def load(self, path: Path, *, classes: Sequence[str] | None = None,
             group_column: str | None = None) -> Manifest:
        gdir = gtzan_genres_dir(path, min_genres=1)
        if gdir is None:
            raise ValueError(f"{path}: not a GTZAN folder (expected genres/<genre>/<genre>.000NN.wav for the 10 genres)")
        files: dict[tuple[str, str], Path] = {}
        for d in sorted(p for p in gdir.iterdir() if p.is_dir()):
            for f in sorted(d.iterdir()):
                if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS and not f.name.startswith("."):
                    files[(d.name.lower(), f.stem.split(".wav")[0])] = f
        known = None if classes is None else set(classes)
        out: list[Item | BadItem] = []
        if not self.use_split:
            for (genre, _), f in sorted(files.items()):
                problem = label_problem((genre,), known)
                out.append(Item(path=f, labels=(genre,)) if problem is None else BadItem(str(f), problem))
            return build_manifest(out, multilabel=False, name=self.name, root=gdir.parent, classes=classes)

        lists, source = gtzan_split_lists(gdir)
        listed: set[tuple[str, str]] = set()
        for split, entries in lists.items():
            for e in entries:
                genre = e.split("/")[0].lower()
                stem = Path(e).name
                stem = stem[: -len(Path(stem).suffix)] if Path(stem).suffix.lower() in AUDIO_EXTENSIONS else stem
                key = (genre, stem)
                listed.add(key)
                f = files.get(key, gdir / e)
                problem = label_problem((genre,), known)
                if problem is not None:
                    out.append(BadItem(str(f), problem))
                    continue
                out.append(Item(path=f, labels=(genre,), split=split, extra={"split_source": source}))
        excluded = [
            BadItem(str(f), "excluded: not in the GTZAN fault-filtered split (faulty or repeated excerpt)")
            for key, f in sorted(files.items()) if key not in listed
        ]
        return build_manifest(out, multilabel=False, name=self.name, root=gdir.parent, classes=classes, bad=excluded)
