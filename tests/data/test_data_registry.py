"""The corpus registry: names, aliases, detection order, and a corpus added in one class."""

from pathlib import Path

import pytest
from corpusfakes import fake_esc50
from datafakes import wav

import audiocnn.data.corpora.registry as registry
from audiocnn.data import DATASETS, Corpus, build_manifest, detect_dataset, list_corpora, load_manifest, register_corpus
from audiocnn.data.items import Item


@pytest.fixture
def clean_registry(monkeypatch):
    """Let a test register corpora without leaving them behind."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_ALIASES", dict(registry._ALIASES))


def test_datasets_come_from_the_registry():
    assert DATASETS == list_corpora()
    assert set(DATASETS) == {"csv", "folder", "esc50", "urbansound8k", "gtzan", "extended_ballroom", "fsdd", "audioset"}


def test_aliases_and_unknown_names(tmp_path):
    root = fake_esc50(tmp_path / "esc")
    assert load_manifest(root, "ESC-50").items == load_manifest(root, "esc50").items
    assert registry.corpus_class("US8K").name == "urbansound8k"
    with pytest.raises(ValueError, match=r"unknown dataset 'imagenet'; expected one of csv, folder, esc50"):
        load_manifest(root, "imagenet")


def test_options_reach_only_their_corpus():
    gtzan = registry.make_corpus("gtzan", gtzan_split=False, ballroom_classes="all", label_column="x")
    assert gtzan.use_split is False
    csv = registry.make_corpus("csv", gtzan_split=False, label_column="category")
    assert csv.label_column == "category"


def test_a_new_corpus_is_one_class(tmp_path, clean_registry):
    @register_corpus
    class Pairs(Corpus):
        """Folders holding a pairs.txt of '<file> <label>' lines."""

        name = "pairs"
        detect_order = 5

        @classmethod
        def detect(cls, path: Path) -> bool:
            return (path / "pairs.txt").is_file()

        def load(self, path, *, classes=None, group_column=None):
            rows = [ln.split() for ln in (path / "pairs.txt").read_text().splitlines()]
            items = [Item(path / f, (lab,)) for f, lab in rows]
            return build_manifest(items, multilabel=False, name=self.name, root=path, classes=classes)

    wav(tmp_path / "p" / "a.wav")
    (tmp_path / "p" / "pairs.txt").write_text("a.wav bird\n")
    assert "pairs" in list_corpora()
    assert detect_dataset(tmp_path / "p") == "pairs"
    m = load_manifest(tmp_path / "p")
    assert m.name == "pairs" and m.items == (Item(tmp_path / "p" / "a.wav", ("bird",)),)

    with pytest.raises(ValueError, match="taken"):
        @register_corpus
        class Clash(Corpus):
            name = "esc50"


def test_detection_prefers_specific_layouts(tmp_path):
    root = fake_esc50(tmp_path / "esc")
    assert detect_dataset(root) == "esc50"            # not "folder", though it is a folder
    assert detect_dataset(root / "meta" / "esc50.csv") == "esc50"   # not "csv"
    with pytest.raises(ValueError, match="CSV manifest or a folder"):
        detect_dataset(wav(tmp_path / "x.wav"))
