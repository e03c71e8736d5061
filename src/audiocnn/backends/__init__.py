"""Back-ends on fixed embeddings: random-weight CNN features, MFCC baseline, SVM and ELM grids
with nested cross-validation (see ``docs/random_cnn.md``)."""

from audiocnn.backends.elm import ELMClassifier
from audiocnn.backends.estimators import BACKENDS, FoldResult, make_backend, nested_cv
from audiocnn.backends.random_cnn import EmbeddingResult, embed_paths, feature_maps, pool_maps, random_init_

__all__ = [
    "BACKENDS",
    "ELMClassifier",
    "EmbeddingResult",
    "FoldResult",
    "embed_paths",
    "feature_maps",
    "make_backend",
    "nested_cv",
    "pool_maps",
    "random_init_",
]
