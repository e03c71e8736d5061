"""AudioSet (Gemmeke et al. 2017) as released: segment CSVs, the class index and downloaded clips.

Each item is one segment; ``split`` is its role (``"train"`` for the training segments, ``"test"``
for ``eval_segments.csv``, so the fixed-split protocol trains and tests as the papers do) and
``extra["subset"]`` the released subset (``"balanced_train"``, ``"unbalanced_train"``,
``"eval"``). Score the evaluation set alone with ``manifest.select_split("eval")`` or load only it
with ``load_manifest(root, "audioset", audioset_splits=["eval"])``. A black list of clips
(``audioset_blacklist=``) is skipped and recorded in ``manifest.bad``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from audiocnn.data.corpora.audioset_files import (
    AUDIO_FOLDERS,
    META_FOLDERS,
    find_clip,
    index_audio,
    is_blacklisted,
    is_segments_csv,
    read_blacklist,
    read_class_index,
    read_segments,
    segments_subset,
)
from audiocnn.data.corpora.registry import Corpus, register_corpus
from audiocnn.data.items import BadItem, Item
from audiocnn.data.labels import label_problem
from audiocnn.data.manifest import Manifest, build_manifest

__all__ = ["AUDIOSET_SUBSETS", "AudioSet", "audioset_files", "subset_role"]

#: The released subsets, in the order they are loaded.
AUDIOSET_SUBSETS: tuple[str, ...] = ("balanced_train", "unbalanced_train", "eval")
_INDEX = "class_labels_indices.csv"


def subset_role(subset: str) -> str:
    """The split role of a subset: ``"test"`` for eval/test subsets, else ``"train"``."""
    s = subset.lower()
    return "test" if "eval" in s or "test" in s else "train"


def audioset_files(data: Path) -> tuple[Path, list[Path], Path | None]:
    """``(root, segment CSVs, class index)`` of an AudioSet copy given as its folder or as one
    segment CSV (then only that file; its root is the folder above a ``metadata/``-style folder).
    The class index is looked for in the root's metadata folders and beside the CSV."""
    data = Path(data)
    if data.is_file():
        root = data.parent.parent if data.parent.name in META_FOLDERS[1:] else data.parent
        segs = [data]
    else:
        root = data
        segs = []
        for d in META_FOLDERS:
            folder = root / d
            if folder.is_dir():
                segs += sorted(p for p in folder.glob("*.csv") if p.name != _INDEX and is_segments_csv(p))
    candidates = [root / d / _INDEX for d in META_FOLDERS] + [data.parent / _INDEX]
    index = next((p for p in candidates if p.is_file()), None)
    return root, segs, index


@register_corpus
class AudioSet(Corpus):
    """AudioSet segments (multi-label; classes in ``class_labels_indices.csv`` order).

    Args:
        blacklist: clips to skip: a text file of YouTube ids (one a line, as the PANNs black
            lists) or an iterable of ids; see :func:`~audiocnn.data.corpora.audioset_files.read_blacklist`.
        splits: load only these subsets (``"balanced_train"``, ``"unbalanced_train"``, ``"eval"``);
            default: every segment CSV found.
    """

    name = "audioset"
    detect_order = 20
    options = {"audioset_blacklist": "blacklist", "audioset_splits": "splits"}

    def __init__(self, blacklist: str | os.PathLike | Iterable[str] | None = None,
                 splits: Sequence[str] | None = None):
        self.blacklist = blacklist
        self.splits = None if splits is None else tuple([splits] if isinstance(splits, str) else splits)

    @classmethod
    def detect(cls, path: Path) -> bool:
        if path.is_file():
            return path.suffix.lower() == ".csv" and is_segments_csv(path)
        _, segs, index = audioset_files(path)
        return bool(segs) and index is not None

    def load(self, path: Path, *, classes: Sequence[str] | None = None,
             group_column: str | None = None) -> Manifest:
        root, segs, index = audioset_files(path)
        if not segs or index is None:
            raise ValueError(
                f"{path}: not an AudioSet folder (expected *_segments.csv files and {_INDEX}; "
                f"found {len(segs)} segment CSV(s), class index {'present' if index else 'missing'})"
            )
        if self.splits is not None:
            found = {segments_subset(s) for s in segs}
            unknown = [s for s in self.splits if s not in found]
            if unknown:
                raise ValueError(f"{path}: AudioSet split(s) {unknown} not found; segment files hold {sorted(found)}")
            segs = [s for s in segs if segments_subset(s) in self.splits]
        order = {s: i for i, s in enumerate(AUDIOSET_SUBSETS)}
        segs = sorted(segs, key=lambda s: (order.get(segments_subset(s), len(order)), s.name))
        mids, names = read_class_index(index)
        mid_to_name = dict(zip(mids, names))
        vocab = list(names) if classes is None else list(classes)
        known = set(vocab)
        black = frozenset() if self.blacklist is None else read_blacklist(self.blacklist)
        black_name = Path(self.blacklist).name if isinstance(self.blacklist, (str, os.PathLike)) else "black list"
        by_stem = index_audio(root)
        audio_dir = next((root / d for d in AUDIO_FOLDERS if (root / d).is_dir()), root)
        out: list[Item | BadItem] = []
        excluded: list[BadItem] = []
        for seg_csv in segs:
            subset = segments_subset(seg_csv)
            segments, problems = read_segments(seg_csv)
            out += problems
            for seg in segments:
                where = f"{seg_csv.name} row {seg.row}"
                path = find_clip(seg, subset, by_stem, audio_dir)
                if is_blacklisted(seg.ytid, black):
                    excluded.append(BadItem(str(path), f"excluded: in the black list ({black_name}; {where})"))
                    continue
                problem = label_problem(seg.mids, mid_to_name)
                if problem is not None:
                    out.append(BadItem(str(path), f"{problem} (not in {index.name}; {where})"))
                    continue
                labels = tuple(mid_to_name[m] for m in seg.mids)
                problem = label_problem(labels, known)
                if problem is not None:
                    out.append(BadItem(str(path), f"{problem} ({where})"))
                    continue
                extra = {"ytid": seg.ytid, "start": seg.start, "end": seg.end, "mids": ",".join(seg.mids),
                         "subset": subset, "segments_csv": seg_csv.name}
                out.append(Item(path=path, labels=labels, split=subset_role(subset), extra=extra, origin=where))
        return build_manifest(out, multilabel=True, name=self.name, root=root, classes=vocab, bad=excluded)
