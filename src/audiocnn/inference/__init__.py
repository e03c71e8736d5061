"""Inference products: tagging, sound event detection, embeddings (HEAR API), export, and the
CPU fast path. Sub-modules are imported on use (``audiocnn.inference.tagger`` ...)."""
