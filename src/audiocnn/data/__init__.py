"""Data: manifests (CSV, class folders, known corpora), validation, caching, datasets, folds, samplers,
and the built-in synthetic dataset.

Typical use::

    from audiocnn.data import AudioCache, ClipDataset, load_manifest, make_folds, validate_manifest
    m = validate_manifest(load_manifest("data/ESC-50"), skip_bad=True)
    cache = AudioCache(sample_rate=32000, cache_dir="~/.cache/audiocnn")
    for name, train_idx, test_idx in make_folds(m):
        ...
"""

from audiocnn.data.cache import AudioCache
from audiocnn.data.datasets import ClipDataset, WindowedDataset, collate_windows
from audiocnn.data.folds import describe_protocol, make_folds, split_train_val
from audiocnn.data.manifest import (
    DATASETS,
    BadDataError,
    BadItem,
    Item,
    Manifest,
    apply_bad,
    load_csv_manifest,
    load_folder_manifest,
    load_manifest,
    validate_manifest,
)
from audiocnn.data.samplers import BalancedSampler
from audiocnn.data.synthetic import SYNTHETIC_CLASSES, make_synthetic_dataset

__all__ = [
    "AudioCache",
    "BadDataError",
    "BadItem",
    "BalancedSampler",
    "ClipDataset",
    "DATASETS",
    "Item",
    "Manifest",
    "SYNTHETIC_CLASSES",
    "WindowedDataset",
    "apply_bad",
    "collate_windows",
    "describe_protocol",
    "load_csv_manifest",
    "load_folder_manifest",
    "load_manifest",
    "make_folds",
    "make_synthetic_dataset",
    "split_train_val",
    "validate_manifest",
]

