"""``load_manifest``: any supported data layout -> :class:`~audiocnn.data.manifest.Manifest`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from audiocnn.data.corpora import detect_corpus, make_corpus
from audiocnn.data.manifest import Manifest

__all__ = ["detect_dataset", "load_manifest"]


def detect_dataset(data: str | os.PathLike) -> str:
    """The registered corpus whose layout ``data`` (a file or folder) has, e.g. ``"esc50"``.

    Raises:
        ValueError: no corpus recognises it (e.g. a file that is not a CSV).
    """
    return detect_corpus(Path(data))


def load_manifest(
    data: str | os.PathLike,
    dataset: str | None = None,
    *,
    group_column: str | None = None,
    label_column: str = "label",
    classes: Sequence[str] | None = None,
    gtzan_split: bool = True,
    ballroom_classes: str | Sequence[str] = "8",
    audioset_blacklist: str | os.PathLike | Iterable[str] | None = None,
    audioset_splits: Sequence[str] | None = None,
) -> Manifest:
    """Build a manifest from a CSV file, a class-folder tree or a known corpus layout.

    Args:
        data: a CSV file or a folder.
        dataset: a registered corpus name (:data:`~audiocnn.data.corpora.DATASETS` or an alias
            such as ``"us8k"``), or None to detect it from the layout (a ``.csv`` file is a CSV
            manifest, or AudioSet segments; a folder is recognised as ESC-50, UrbanSound8K,
            AudioSet, FSDD, GTZAN, Extended Ballroom, a folder holding one CSV manifest, or else
            a folder with one sub-folder per class).
        group_column: column whose value groups items that must stay on the same side of a
            split (e.g. ``speaker``). Default for CSVs: a column named ``group`` or ``speaker`` if
            present; FSDD: the speaker; ESC-50: ``src_file``; UrbanSound8K: ``fsID``.
        label_column: CSV column holding the single label (``labels``, ``;``-separated, is used
            for multi-label data when ``label_column`` is absent).
        classes: a fixed label vocabulary (e.g. a checkpoint's); rows with other labels are
            reported as ``unknown label``. Default: the labels found, sorted (a CSV written by
            :meth:`Manifest.to_csv`: its ``.classes.txt`` file).
        gtzan_split: GTZAN only: True (default) uses the fault-filtered train/val/test split and
            records the excluded excerpts in ``bad``; False loads all 1,000 excerpts without a
            split (for random k-fold).
        ballroom_classes: Extended Ballroom only: ``"8"`` (default) keeps the 8 classes of the
            original Ballroom set; ``"all"`` keeps every class folder; or a list of folder names.
        audioset_blacklist: AudioSet only: clips to skip (a text file of YouTube ids, one a line,
            or a list of ids); they are recorded in ``bad``.
        audioset_splits: AudioSet only: load only these released subsets (``"balanced_train"``,
            ``"unbalanced_train"``, ``"eval"``); default all segment CSVs found.

    Raises:
        FileNotFoundError: ``data`` does not exist.
        ValueError: unknown ``dataset``, or the layout is unusable (the message says what was
            expected and what was found; CSV problems name the file, the row and the rule).
    """
    root = Path(data).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such file or folder")
    root = Path(os.path.abspath(root))
    name = detect_corpus(root) if dataset is None else dataset
    corpus = make_corpus(name, label_column=label_column, gtzan_split=gtzan_split,
                         ballroom_classes=ballroom_classes, audioset_blacklist=audioset_blacklist,
                         audioset_splits=audioset_splits)
    return corpus.load(root, classes=classes, group_column=group_column)
