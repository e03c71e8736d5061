"""``create_model``: the one way to build a registered model, optionally from a checkpoint."""

from __future__ import annotations

import os

from audiocnn.models._checkpoint import load_state_dict_checked, read_checkpoint
from audiocnn.models._registry import get_model_builder
from audiocnn.models.base import AudioModel

__all__ = ["create_model"]


def _build(name: str, builder, **kwargs) -> AudioModel:
    try:
        return builder(**kwargs)
    except TypeError as e:  # an override this family does not have: say which, not a traceback
        if "unexpected keyword argument" in str(e):
            bad = str(e).split("unexpected keyword argument")[-1].strip()
            raise ValueError(f"model {name!r} has no argument {bad} (given: {sorted(kwargs)})") from e
        raise


def _checkpoint_num_classes(model: AudioModel, sd: dict) -> int | None:
    key = model.info.classifier + ".weight"
    return int(sd[key].shape[0]) if key in sd else None


def create_model(
    name: str,
    num_classes: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    **overrides,
) -> AudioModel:
    """Build the registered model ``name``.

    Args:
        name: a name from :func:`audiocnn.list_models`.
        num_classes: size of the output layer. Default: the checkpoint's class count when a
            checkpoint is given, else 527 (AudioSet). When it differs from the checkpoint's, the
            backbone is loaded and the head is freshly initialised (transfer learning).
        checkpoint: an official PANNs ``.pth`` file or one written by audiocnn.
        **overrides: architecture arguments of the family (e.g. ``dropout``, ``sample_rate``).
            A checkpoint written by ``audiocnn train`` for the same model name brings the
            architecture arguments it was trained with (``--model-arg``); ``overrides`` win.

    Returns:
        the model, in eval mode.
    """
    builder = get_model_builder(name)
    if checkpoint is None:
        model = _build(name, builder, num_classes=527 if num_classes is None else num_classes, **overrides)
        return model.eval()
    sd, meta = read_checkpoint(checkpoint)
    overrides = {**stored_architecture_kwargs(meta, name), **overrides}
    probe_classes = meta.get("num_classes")
    model = _build(name, builder, num_classes=probe_classes or 527, **overrides)
    ckpt_classes = _checkpoint_num_classes(model, sd) or probe_classes
    if ckpt_classes and ckpt_classes != model.num_classes:
        model.reset_classifier(ckpt_classes)
    load_state_dict_checked(model, sd, source=str(checkpoint))
    if num_classes is not None and num_classes != model.num_classes:
        model.reset_classifier(num_classes)
    model.checkpoint_metadata = meta
    return model.eval()


# model_kwargs that choose initial weights, not the architecture: never re-applied from a checkpoint
INIT_KWARGS = ("init", "imagenet_weights", "pretrained")


def stored_architecture_kwargs(meta: dict, name: str) -> dict:
    """The ``--model-arg`` architecture arguments a checkpoint of ours was trained with (from its
    metadata ``config.model_kwargs``), when it was trained as ``name``; weight-choosing arguments
    (``init``, ``imagenet_weights``) are dropped."""
    if meta.get("name") not in (None, name):
        return {}
    kwargs = ((meta.get("config") or {}).get("model_kwargs")) or {}
    return {k: v for k, v in kwargs.items() if k not in INIT_KWARGS}
