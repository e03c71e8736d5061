"""``audiocnn.hear``: the HEAR embedding API (``load_model``, ``get_scene_embeddings``,
``get_timestamp_embeddings``); implemented in :mod:`audiocnn.inference.hear`."""

from audiocnn.inference.hear import HearModel, get_scene_embeddings, get_timestamp_embeddings, load_model

__all__ = ["HearModel", "get_scene_embeddings", "get_timestamp_embeddings", "load_model"]
