"""The corpus registry: one small :class:`Corpus` class per data layout, registered by name.

A corpus says whether a path looks like it (:meth:`Corpus.detect`) and turns that layout into a
:class:`~audiocnn.data.manifest.Manifest` (:meth:`Corpus.load`). Adding a corpus is adding one
module that defines a class decorated with :func:`register_corpus` (and importing it in
``audiocnn/data/corpora/__init__.py``)::

    @register_corpus
    class MyCorpus(Corpus):
        name = "mycorpus"
        detect_order = 40          # lower is tried first by auto-detection

        @classmethod
        def detect(cls, path):
            return (path / "mycorpus.json").is_file()

        def load(self, path, *, classes=None, group_column=None):
            ...
            return build_manifest(rows, multilabel=False, name=self.name, root=path, classes=classes)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from audiocnn.data.manifest import Manifest

__all__ = [
    "Corpus",
    "corpus_class",
    "detect_corpus",
    "list_corpora",
    "make_corpus",
    "register_corpus",
]


class Corpus:
    """A data layout that can be turned into a manifest.

    Class attributes:
        name: registry name (``--dataset`` value).
        aliases: other accepted names (compared after lower-casing and ``-`` -> ``_``).
        detect_order: auto-detection tries corpora in increasing order (specific layouts first,
            the generic ``folder`` last).
        options: ``load_manifest`` keyword -> constructor keyword, for corpus-specific options
            (``{"gtzan_split": "use_split"}``).

    The constructor takes the corpus's options; :meth:`load` the path and the options every
    corpus shares.
    """

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    detect_order: ClassVar[int] = 50
    options: ClassVar[dict[str, str]] = {}

    @classmethod
    def detect(cls, path: Path) -> bool:
        """True when ``path`` (an existing file or folder) has this corpus's layout."""
        return False

    def load(self, path: Path, *, classes: Sequence[str] | None = None,
             group_column: str | None = None) -> Manifest:
        """The manifest of the data at ``path``.

        Args:
            path: absolute path of the corpus folder (or of a file of it, where supported).
            classes: a fixed class list; rows with other labels become ``problems``.
            group_column: the metadata column that groups items (where the corpus has one).

        Raises:
            ValueError: the layout is not this corpus's (the message says what was expected).
        """
        raise NotImplementedError


_REGISTRY: dict[str, type[Corpus]] = {}
_ALIASES: dict[str, str] = {}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register_corpus(cls: type[Corpus]) -> type[Corpus]:
    """Class decorator adding ``cls`` to the registry under ``cls.name`` and its aliases.

    Raises:
        ValueError: the class has no name, or the name or an alias is taken.
    """
    if not cls.name:
        raise ValueError(f"{cls.__qualname__}: a corpus needs a 'name'")
    for key in (_key(cls.name), *map(_key, cls.aliases)):
        owner = _REGISTRY.get(key) or _REGISTRY.get(_ALIASES.get(key, ""))
        if owner is not None and owner is not cls:
            raise ValueError(f"corpus name {key!r} of {cls.__qualname__} is taken by {owner.__qualname__}")
    _REGISTRY[_key(cls.name)] = cls
    for alias in cls.aliases:
        _ALIASES[_key(alias)] = _key(cls.name)
    return cls


def list_corpora() -> tuple[str, ...]:
    """The registered corpus names, in registration order."""
    return tuple(_REGISTRY)


def corpus_class(name: str) -> type[Corpus]:
    """The corpus class registered as ``name`` (or one of its aliases).

    Raises:
        ValueError: unknown name (the message lists the registered ones).
    """
    key = _key(name)
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(_REGISTRY)}")
    return _REGISTRY[key]


def make_corpus(name: str, **options: Any) -> Corpus:
    """An instance of corpus ``name`` built from ``load_manifest``-style options; options meant for
    other corpora (``gtzan_split`` for a CSV...) are ignored, None means the corpus's default."""
    cls = corpus_class(name)
    kwargs = {cls.options[k]: v for k, v in options.items() if k in cls.options and v is not None}
    return cls(**kwargs)


def detect_corpus(path: Path) -> str:
    """The name of the first corpus (by ``detect_order``, then registration) whose layout ``path`` has.

    Raises:
        ValueError: no corpus recognises ``path``.
    """
    path = Path(path)
    for cls in sorted(_REGISTRY.values(), key=lambda c: c.detect_order):
        if cls.detect(path):
            return cls.name
    if path.is_file():
        raise ValueError(f"{path}: expected a CSV manifest or a folder, got a {path.suffix or 'extension-less'} file")
    raise ValueError(f"{path}: no known data layout (expected a CSV manifest or a folder of class sub-folders)")
