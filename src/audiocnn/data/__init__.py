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
