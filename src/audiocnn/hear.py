"""``audiocnn.hear``: the HEAR embedding API (``load_model``, ``get_scene_embeddings``,
``get_timestamp_embeddings``); implemented in :mod:`audiocnn.inference.hear`.

Checked by the official validator: ``hear-validator audiocnn.hear`` (default model) and
``hear-validator audiocnn.hear -m runs/x/fold_1/model`` (a model trained by ``audiocnn train``)."""

from audiocnn.inference.hear import (
    HEAR_SAMPLE_RATES,
    HearModel,
    get_scene_embeddings,
    get_timestamp_embeddings,
    hear_sample_rate,
    load_model,
)

__all__ = ["HEAR_SAMPLE_RATES", "HearModel", "get_scene_embeddings", "get_timestamp_embeddings", "hear_sample_rate", "load_model"]
