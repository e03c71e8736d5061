"""A tagging service: HTTP endpoints for tagging, sound event detection and embeddings, with
dynamic batching, limits, metrics and a web page (``audiocnn serve``; docs/serving.md).

Needs the ``[serve]`` extra (FastAPI, uvicorn, python-multipart)::

    from audiocnn.serve import ServeConfig, create_app, load_served_model
    app = create_app(ServeConfig(max_batch=8), loader=lambda: load_served_model("cnn14", "Cnn14.pth"))

Modules: :mod:`~audiocnn.serve.app` (routes, errors, life cycle), :mod:`~audiocnn.serve.batching`
(the dynamic batcher), :mod:`~audiocnn.serve.decode` (request bodies to waveforms),
:mod:`~audiocnn.serve.metrics` (Prometheus text), :mod:`~audiocnn.serve.products` (the model's
tagger, detector and embedder), :mod:`~audiocnn.serve.page` (the web page),
:mod:`~audiocnn.serve.config` (limits).
"""

from audiocnn.serve.app import create_app
from audiocnn.serve.config import ServeConfig, read_api_key
from audiocnn.serve.products import ServedModel, load_served_model

__all__ = ["ServeConfig", "ServedModel", "create_app", "load_served_model", "read_api_key"]
