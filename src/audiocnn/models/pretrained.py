"""Loading a model with its bundle, and self-describing model folders.

- :func:`load_model` is what every consumer calls: from a checkpoint file (ours, with its bundle,
  or an official PANNs file), a model folder, or a registry name alone (random weights), it
  returns ``(model in eval mode, ModelBundle)``.
- :func:`save_pretrained` / :func:`from_pretrained`: a folder with ``model.safetensors`` (tensors
  only: nothing executable is loaded) and ``config.json`` (the bundle), in the style of Hugging
  Face and timm.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from audiocnn.atomic import write_json_atomic, write_with
from audiocnn.models._checkpoint import (
    CheckpointError,
    load_state_dict_checked,
    read_checkpoint,
)
from audiocnn.models._factory import build_from_state_dict, create_model
from audiocnn.models._registry import list_models
from audiocnn.models.base import AudioModel
from audiocnn.models.bundle import BundleError, ModelBundle

__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "from_pretrained",
    "infer_model_name",
    "load_into",
    "load_model",
    "read_source",
    "save_pretrained",
]

log = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


def _canonical(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def infer_model_name(path: str | os.PathLike) -> str | None:
    """The registry name an official PANNs file is for, from its file name
    (``Cnn14_DecisionLevelMax_mAP=0.385.pth`` -> ``cnn14_decision_level_max``), or ``None``."""
    stem = Path(path).name.split("_mAP=")[0].split(".pth")[0]
    wanted = _canonical(stem)
    matches = [n for n in list_models() if _canonical(n) == wanted]
    return matches[0] if len(matches) == 1 else None


def save_pretrained(model: AudioModel, bundle: ModelBundle, directory: str | os.PathLike) -> Path:
    """Write ``directory/model.safetensors`` and ``directory/config.json`` (the bundle)."""
    from safetensors.torch import save_file

    if bundle.model != model.info.name or bundle.num_classes != model.num_classes:
        raise BundleError(
            f"bundle describes {bundle.model} with {bundle.num_classes} classes, "
            f"the model is {model.info.name} with {model.num_classes}"
        )
    directory = Path(directory)
    sd = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    write_with(directory / WEIGHTS_NAME, lambda tmp: save_file(sd, str(tmp), metadata={"format": "pt"}))
    write_json_atomic(directory / CONFIG_NAME, bundle.to_dict())
    return directory


def _read_folder(directory: Path) -> tuple[dict[str, torch.Tensor], ModelBundle]:
    from safetensors.torch import load_file

    config, weights = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    for f in (config, weights):
        if not f.exists():
            raise FileNotFoundError(f"{directory}: not a model folder ({f.name} missing)")
    try:
        meta = json.loads(config.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{config}: not valid JSON ({e})") from None
    bundle = ModelBundle.from_dict(meta, str(config))
    try:
        sd = load_file(str(weights))
    except Exception as e:  # safetensors raises its own error types for truncated/corrupt files
        raise CheckpointError(f"{weights}: not a readable safetensors file ({type(e).__name__}: {e})") from e
    return sd, bundle


def read_source(source: str | os.PathLike) -> tuple[dict[str, torch.Tensor], ModelBundle | None]:
    """``(state dict, bundle or None)`` of a checkpoint file or a model folder."""
    path = Path(source)
    if path.is_dir():
        return _read_folder(path)
    sd, meta = read_checkpoint(path)
    return sd, ModelBundle.from_checkpoint_metadata(meta, str(path))


def load_into(model: AudioModel, source: str | os.PathLike) -> ModelBundle | None:
    """Load a checkpoint file or model folder into ``model`` (keys and shapes checked); return
    its bundle (``None`` for a file without one)."""
    sd, bundle = read_source(source)
    load_state_dict_checked(model, sd, source=str(source))
    return bundle


def from_pretrained(directory: str | os.PathLike, **overrides: Any) -> tuple[AudioModel, ModelBundle]:
    """``(model in eval mode, bundle)`` from a folder written by :func:`save_pretrained`."""
    return load_model(directory, **overrides)


def load_model(
    source: str | os.PathLike | None = None,
    model: str | None = None,
    *,
    num_classes: int | None = None,
    warn_random: bool = True,
    **overrides: Any,
) -> tuple[AudioModel, ModelBundle]:
    """``(model in eval mode, bundle)`` from what a user names.

    Args:
        source: a checkpoint file (``audiocnn train``'s ``best.pth``, an official PANNs ``.pth``,
            a Lightning ``.ckpt``), a folder written by :func:`save_pretrained`, or ``None``
            (``model`` with random weights, with a warning).
        model: registry name. Not needed for a source with a bundle; if it contradicts the
            bundle it wins, with a warning. For an official PANNs file it defaults to the name
            its file name implies (``Cnn14_mAP=0.431.pth`` -> ``cnn14``).
        num_classes: a new head with this many classes (transfer learning).
        **overrides: architecture arguments (win over the bundle's).
    """
    if source is None:
        if not model:
            raise ValueError("name a model (--model) or a checkpoint (--checkpoint)")
        if warn_random:
            warnings.warn(
                f"no checkpoint given: {model} has RANDOM weights, its predictions are meaningless "
                "(pass a checkpoint / --checkpoint FILE)",
                stacklevel=2,
            )
        net = create_model(model, num_classes=num_classes, **overrides)
        return net.eval(), ModelBundle.for_model(net, model_args=overrides)
    path = Path(source)
    sd, bundle = read_source(path)
    name = model
    if bundle is not None:
        if model and model != bundle.model:
            warnings.warn(f"model={model!r} overrides {bundle.model!r} stored in {path}", UserWarning, stacklevel=2)
        name = model or bundle.model
    elif not name:
        name = infer_model_name(path)
        if name is None:
            raise BundleError(
                f"{path} carries no model description (an official PANNs checkpoint?) and its file name "
                "names no registered model: pass --model NAME (see `audiocnn models`)"
            )
        log.info("%s: no bundle, using model %s (from the file name)", path, name)
    net = build_from_state_dict(name, sd, bundle, num_classes=num_classes, source=str(path), **overrides).eval()
    if bundle is None or bundle.model != name or bundle.num_classes != net.num_classes:
        described = ModelBundle.for_model(net, model_args=overrides)
        if bundle is not None and bundle.num_classes == net.num_classes:  # keep its labels
            described = described.replace(labels=bundle.labels, task=bundle.task, windowing=bundle.windowing)
        bundle = described
    elif overrides:
        bundle = bundle.replace(model_args={**bundle.model_args, **overrides})
    if bundle.sample_rate != net.sample_rate:  # e.g. an old checkpoint that did not store it
        bundle = bundle.replace(sample_rate=int(net.sample_rate))
    return net, bundle
