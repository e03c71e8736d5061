"""Opening a model for an inference product (tagging, SED, embeddings, HEAR, export, saliency,
serving): the network and its :class:`~audiocnn.models.ModelBundle`, with the caller's explicit
settings applied on top of the bundle (an explicit setting that contradicts it wins, with a
warning)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from audiocnn.inference.labels import read_labels
from audiocnn.models import AudioModel, ModelBundle, load_into, load_model

__all__ = ["open_model"]


def open_model(
    model: str | AudioModel | None = None,
    checkpoint: str | os.PathLike | None = None,
    labels: str | os.PathLike | Sequence[str] | None = None,
    **settings: Any,
) -> tuple[AudioModel, ModelBundle]:
    """``(network in eval mode, bundle)``.

    Args:
        model: registry name, an :class:`AudioModel` instance, or ``None`` (the checkpoint's bundle
            names it).
        checkpoint: a checkpoint file or model folder (see :func:`audiocnn.models.load_model`).
        labels: class names, or a labels file (``class_labels_indices.csv`` style, or one name per
            line); default: the bundle's.
        **settings: ``clip_seconds``, ``hop_seconds``, ``aggregate``, ``pad_short``, ``activation``
            (``None`` = the bundle's), see :meth:`ModelBundle.with_overrides`.
    """
    if isinstance(model, AudioModel):
        bundle = getattr(model, "bundle", None)
        if checkpoint is not None:
            bundle = load_into(model, checkpoint)
        net = model.eval()
        bundle = bundle if bundle is not None and bundle.num_classes == net.num_classes else ModelBundle.for_model(net)
    elif model is None or isinstance(model, str):
        net, bundle = load_model(checkpoint, model, warn_random=True)
    else:
        raise TypeError(f"model must be a registry name or an AudioModel, got {type(model).__name__}")
    if labels is not None:
        names = read_labels(labels) if isinstance(labels, (str, os.PathLike)) else [str(x) for x in labels]
        if len(names) != net.num_classes:
            raise ValueError(f"{labels if isinstance(labels, (str, os.PathLike)) else 'the given list'} has {len(names)} labels but the model has {net.num_classes} outputs")
        settings["labels"] = names
    source = str(checkpoint) if checkpoint is not None else "the model's bundle"
    return net, bundle.with_overrides(source, **{k: v for k, v in settings.items() if v is not None})
