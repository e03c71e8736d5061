"""The corpora audiocnn reads, one module each, registered by name (see :mod:`.registry`).

Importing this package registers the built-in corpora, in the order of :data:`DATASETS`. To add a
corpus, add a module with a :class:`~audiocnn.data.corpora.registry.Corpus` subclass decorated
with :func:`~audiocnn.data.corpora.registry.register_corpus`, and import it below.
"""

from audiocnn.data.corpora import (  # noqa: F401  (imported to register the corpora, in this order)
    csv_manifest,
    folder,
    esc50,
    urbansound8k,
    gtzan,
    extended_ballroom,
    fsdd,
    audioset,
)
from audiocnn.data.corpora.registry import (
    Corpus,
    corpus_class,
    detect_corpus,
    list_corpora,
    make_corpus,
    register_corpus,
)

__all__ = [
    "DATASETS",
    "Corpus",
    "corpus_class",
    "detect_corpus",
    "list_corpora",
    "make_corpus",
    "register_corpus",
]

#: The names of the built-in corpora (``--dataset`` choices); ``None`` means auto-detect.
DATASETS: tuple[str, ...] = list_corpora()
