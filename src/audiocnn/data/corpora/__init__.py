"""The corpora audiocnn reads, one module each, registered by name (see :mod:`.registry`).

Importing this package registers the built-in corpora, in the order of :data:`DATASETS`. To add a
corpus, add a module with a :class:`~audiocnn.data.corpora.registry.Corpus` subclass decorated
with :func:`~audiocnn.data.corpora.registry.register_corpus`, and import it below.
"""

# Imported to register the corpora, in this order (the order of DATASETS).
import audiocnn.data.corpora.csv_manifest  # noqa: F401
import audiocnn.data.corpora.folder  # noqa: F401
import audiocnn.data.corpora.esc50  # noqa: F401
import audiocnn.data.corpora.urbansound8k  # noqa: F401
import audiocnn.data.corpora.gtzan  # noqa: F401
import audiocnn.data.corpora.extended_ballroom  # noqa: F401
import audiocnn.data.corpora.fsdd  # noqa: F401
import audiocnn.data.corpora.audioset  # noqa: F401
from audiocnn.data.corpora import registry
from audiocnn.data.corpora.registry import *  # noqa: F403 - the registry's public names

__all__ = ["DATASETS"]
__all__ += registry.__all__

#: The names of the built-in corpora (``--dataset`` choices); ``None`` means auto-detect.
DATASETS: tuple[str, ...] = list_corpora()
