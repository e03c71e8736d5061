"""``create_model``: the one way to build a registered model, optionally from a checkpoint."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

from audiocnn.models._checkpoint import load_state_dict_checked, read_checkpoint
from audiocnn.models._registry import get_model_builder
from audiocnn.models.base import AudioModel
from audiocnn.models.bundle import INIT_KWARGS, ModelBundle

__all__ = ["build_from_state_dict", "create_model"]


def _build(name: str, builder: Callable[..., AudioModel], **kwargs: Any) -> AudioModel:
    try:
        return builder(**kwargs)
    except TypeError as e:  # an override this family does not have: say which, not a traceback
        if "unexpected keyword argument" in str(e):
            bad = str(e).split("unexpected keyword argument")[-1].strip()
            raise ValueError(f"model {name!r} has no argument {bad} (given: {sorted(kwargs)})") from e
        raise


def build_from_state_dict(
    name: str,
    sd: dict[str, torch.Tensor],
    bundle: ModelBundle | None,
    *,
    num_classes: int | None = None,
    source: str = "checkpoint",
    **overrides: Any,
) -> AudioModel:
    """Build ``name`` and load ``sd`` into it (keys and shapes checked, every mismatch listed).

    The bundle's architecture arguments apply when it describes the same model, and so does its
    sample rate when the arguments do not give one; ``overrides`` win. The head takes the state
    dict's class count; a different ``num_classes`` then gets a fresh head (transfer learning).
    """
    builder = get_model_builder(name)
    stored = dict(bundle.model_args) if bundle is not None and bundle.model == name else {}
    kwargs = {**{k: v for k, v in stored.items() if k not in INIT_KWARGS}, **overrides}
    probe_classes = bundle.num_classes if bundle is not None else None
    model = _build(name, builder, num_classes=probe_classes or 527, **kwargs)
    rate = int(bundle.sample_rate) if bundle is not None and bundle.model == name else 0
    if rate > 1 and "sample_rate" not in kwargs and rate != int(model.sample_rate):
        # a bundle that records the model's rate but not as an argument (ModelBundle.for_model
        # without model_args): build the model at that rate, or its front-end will not fit
        kwargs["sample_rate"] = rate
        model = _build(name, builder, num_classes=probe_classes or 527, **kwargs)
    key = model.info.classifier + ".weight"
    sd_classes = int(sd[key].shape[0]) if key in sd else probe_classes
    if sd_classes and sd_classes != model.num_classes:
        model.reset_classifier(sd_classes)
    load_state_dict_checked(model, sd, source=source)
    if num_classes is not None and num_classes != model.num_classes:
        model.reset_classifier(num_classes)
    return model


def create_model(
    name: str,
    num_classes: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    **overrides: Any,
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
            architecture arguments it was trained with (its bundle); ``overrides`` win.

    Returns:
        the model, in eval mode. To get the checkpoint's bundle (labels, task, windowing) as
        well, use :func:`audiocnn.models.load_model`.
    """
    if checkpoint is None:
        builder = get_model_builder(name)
        return _build(name, builder, num_classes=527 if num_classes is None else num_classes, **overrides).eval()
    sd, meta = read_checkpoint(checkpoint)
    bundle = ModelBundle.from_checkpoint_metadata(meta, str(checkpoint))
    return build_from_state_dict(name, sd, bundle, num_classes=num_classes, source=str(checkpoint), **overrides).eval()
