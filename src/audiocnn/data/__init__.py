"""Data: manifests (CSV, class folders, known corpora), validation, caching, datasets, folds, samplers,
and the built-in synthetic dataset.

Typical use::

    from audiocnn.data import AudioCache, load_manifest, make_folds, require_classes, validate_manifest
    m = validate_manifest(load_manifest("data/ESC-50"), skip_bad=True)
    require_classes(m)                      # a classifier needs 2 classes or more
    m.to_csv("esc50_edited.csv")            # export, edit, then load_manifest("esc50_edited.csv")
    cache = AudioCache(sample_rate=32000, cache_dir="~/.cache/audiocnn")
    for name, train_idx, test_idx in make_folds(m):
        ...

Layers inside the package: ``csvio``, ``labels`` -> ``items`` -> ``manifest_csv`` -> ``manifest`` ->
``validate`` -> ``corpora`` (one module per corpus, a registry) -> ``load``.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names below are imported on first use (``__getattr__``)
    from audiocnn.data.cache import AudioCache
    from audiocnn.data.corpora import DATASETS, Corpus, list_corpora, register_corpus
    from audiocnn.data.corpora.csv_manifest import find_csv
    from audiocnn.data.corpora.folder import load_folder_manifest
    from audiocnn.data.csvio import CSVFormatError, is_missing
    from audiocnn.data.datasets import ClipDataset, WindowedDataset, collate_windows
    from audiocnn.data.folds import describe_protocol, make_folds, split_train_val
    from audiocnn.data.items import AUDIO_EXTENSIONS, BadDataError, BadItem, Item
    from audiocnn.data.labels import LabelError, check_labels, label_problem
    from audiocnn.data.load import detect_dataset, load_manifest
    from audiocnn.data.manifest import Manifest, build_manifest, load_csv_manifest
    from audiocnn.data.samplers import BalancedSampler
    from audiocnn.data.synthetic import SYNTHETIC_CLASSES, make_synthetic_dataset
    from audiocnn.data.validate import apply_bad, require_classes, validate_manifest

# Each name is imported from its module when first used, so that a process that needs one part
# (a data-loader worker reading packed shards) does not import the others (scikit-learn for the
# folds, the corpora...).
_LAZY = {
    "AUDIO_EXTENSIONS": "audiocnn.data.items",
    "AudioCache": "audiocnn.data.cache",
    "BadDataError": "audiocnn.data.items",
    "BadItem": "audiocnn.data.items",
    "BalancedSampler": "audiocnn.data.samplers",
    "CSVFormatError": "audiocnn.data.csvio",
    "ClipDataset": "audiocnn.data.datasets",
    "Corpus": "audiocnn.data.corpora",
    "DATASETS": "audiocnn.data.corpora",
    "Item": "audiocnn.data.items",
    "LabelError": "audiocnn.data.labels",
    "Manifest": "audiocnn.data.manifest",
    "SYNTHETIC_CLASSES": "audiocnn.data.synthetic",
    "WindowedDataset": "audiocnn.data.datasets",
    "apply_bad": "audiocnn.data.validate",
    "build_manifest": "audiocnn.data.manifest",
    "check_labels": "audiocnn.data.labels",
    "collate_windows": "audiocnn.data.datasets",
    "describe_protocol": "audiocnn.data.folds",
    "detect_dataset": "audiocnn.data.load",
    "find_csv": "audiocnn.data.corpora.csv_manifest",
    "is_missing": "audiocnn.data.csvio",
    "label_problem": "audiocnn.data.labels",
    "list_corpora": "audiocnn.data.corpora",
    "load_csv_manifest": "audiocnn.data.manifest",
    "load_folder_manifest": "audiocnn.data.corpora.folder",
    "load_manifest": "audiocnn.data.load",
    "make_folds": "audiocnn.data.folds",
    "make_synthetic_dataset": "audiocnn.data.synthetic",
    "register_corpus": "audiocnn.data.corpora",
    "require_classes": "audiocnn.data.validate",
    "split_train_val": "audiocnn.data.folds",
    "validate_manifest": "audiocnn.data.validate",
}

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioCache",
    "BadDataError",
    "BadItem",
    "BalancedSampler",
    "CSVFormatError",
    "ClipDataset",
    "Corpus",
    "DATASETS",
    "Item",
    "LabelError",
    "Manifest",
    "SYNTHETIC_CLASSES",
    "WindowedDataset",
    "apply_bad",
    "build_manifest",
    "check_labels",
    "collate_windows",
    "describe_protocol",
    "detect_dataset",
    "find_csv",
    "is_missing",
    "label_problem",
    "list_corpora",
    "load_csv_manifest",
    "load_folder_manifest",
    "load_manifest",
    "make_folds",
    "make_synthetic_dataset",
    "register_corpus",
    "require_classes",
    "split_train_val",
    "validate_manifest",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'audiocnn.data' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
