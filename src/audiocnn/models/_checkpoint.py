"""Loading and saving checkpoints: the official PANNs format and ours.

The official PANNs files are ``torch.save``d dicts whose ``'model'`` entry is the state dict.
Ours use the same layout plus an ``'audiocnn'`` entry with the model name, class count and
labels, so either loads with :func:`load_checkpoint`.

Differences from the original state dicts that are handled here:
- ``spectrogram_extractor.stft.conv_real/conv_imag.weight``: the original computes the STFT as a
  convolution with these fixed kernels; we use an FFT. The kernels are checked to be the
  Hann-windowed DFT our front-end computes (so the outputs are the same) and then dropped.
- keys listed in ``model.info.ignored_checkpoint_keys`` (stored but unused by the original).
"""

from __future__ import annotations

import fnmatch
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from audiocnn.atomic import write_with
from audiocnn.models.base import AudioModel

if TYPE_CHECKING:
    from audiocnn.models.bundle import ModelBundle

__all__ = ["CheckpointError", "load_checkpoint", "load_state_dict_checked", "read_checkpoint", "save_checkpoint"]

log = logging.getLogger(__name__)

STFT_KEYS = ("spectrogram_extractor.stft.conv_real.weight", "spectrogram_extractor.stft.conv_imag.weight")


class CheckpointError(ValueError):
    """A checkpoint does not fit the model; the message lists every offending key."""


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Read ``path`` safely (``weights_only=True``) and return ``(state_dict, metadata)``.

    Accepts the official PANNs layout (``{'model': state_dict, ...}``), ours (the same plus
    ``'audiocnn'`` metadata), a Lightning checkpoint (``'state_dict'`` with a ``model.`` prefix)
    and a bare state dict.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: not a loadable checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict, got {type(obj).__name__}")
    meta = obj.get("audiocnn", {}) if isinstance(obj.get("audiocnn"), dict) else {}
    if "model" in obj and isinstance(obj["model"], dict):
        sd = obj["model"]
    elif "state_dict" in obj and isinstance(obj["state_dict"], dict):
        sd = obj["state_dict"]
        if all(k.startswith("model.") for k in sd):
            sd = {k[len("model.") :]: v for k, v in sd.items()}
        meta = meta or obj.get("hyper_parameters", {}).get("audiocnn", {}) or {}
    elif all(isinstance(v, torch.Tensor) for v in obj.values()):
        sd = obj
    else:
        raise CheckpointError(f"{path}: no state dict found (expected a 'model' or 'state_dict' entry; has {sorted(obj)[:10]})")
    return sd, meta


def save_checkpoint(model: AudioModel, path: str | os.PathLike, bundle: ModelBundle | None = None) -> Path:
    """Write ``{'model': state_dict, 'audiocnn': bundle}`` atomically.

    ``bundle`` (:class:`~audiocnn.models.bundle.ModelBundle`) describes the model for every
    consumer; default: :meth:`ModelBundle.for_model` of ``model``."""
    from audiocnn.models.bundle import ModelBundle

    bundle = bundle if bundle is not None else ModelBundle.for_model(model)
    obj = {"model": model.state_dict(), "audiocnn": bundle.to_dict()}
    return write_with(path, lambda tmp: torch.save(obj, tmp))


def _dft_kernels(n_fft: int, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
    ang = 2 * math.pi * k[:, None] * n[None, :] / n_fft
    w = window.to(torch.float64)[None, :]
    return (torch.cos(ang) * w)[:, None, :], (-torch.sin(ang) * w)[:, None, :]


def _check_stft_kernels(model: AudioModel, sd: dict, problems: list[str]) -> None:
    extractor = None
    for name, m in model.named_modules():
        if hasattr(m, "melW") and hasattr(m, "window") and hasattr(m, "n_fft"):
            extractor = m
            break
    if extractor is None:
        problems.extend(f"unexpected key {k}" for k in STFT_KEYS if k in sd)
        return
    expected_shape = (extractor.n_fft // 2 + 1, 1, extractor.n_fft)
    for key, ref in zip(STFT_KEYS, _dft_kernels(extractor.n_fft, extractor.window)):
        if key not in sd:
            continue  # our own checkpoints do not store the kernels
        got = tuple(sd[key].shape)
        if got != expected_shape:
            problems.append(f"checkpoint key {key}: expected {expected_shape}, got {got}")
        elif not torch.allclose(sd[key].to(torch.float64), ref, atol=1e-4):
            problems.append(f"checkpoint key {key}: not a Hann-windowed DFT kernel, which this front-end computes")


def load_state_dict_checked(model: AudioModel, sd: dict[str, torch.Tensor], source: str = "checkpoint") -> list[str]:
    """Load ``sd`` into ``model`` strictly, with a readable error listing every mismatch.

    If only the classifier keys differ in shape (another class count), the model keeps its
    fresh head and the rest is loaded: the transfer-learning case. Returns the list of keys
    that were not loaded for that reason.
    """
    sd = dict(sd)
    problems: list[str] = []
    _check_stft_kernels(model, sd, problems)
    for k in STFT_KEYS:
        sd.pop(k, None)
    for pattern in model.info.ignored_checkpoint_keys:
        for k in [k for k in sd if fnmatch.fnmatch(k, pattern)]:
            del sd[k]

    own = model.state_dict()
    head_prefix = model.info.classifier + "."
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    misshapen = [k for k in own if k in sd and tuple(own[k].shape) != tuple(sd[k].shape)]
    head_only = misshapen and all(k.startswith(head_prefix) for k in misshapen)
    skipped: list[str] = []
    if head_only and not missing and not unexpected and not problems:
        skipped = misshapen
        for k in skipped:
            del sd[k]
        log.info("%s: classifier %s has another class count; keeping a fresh head", source, model.info.classifier)
        misshapen = []
    problems += [f"missing key {k} {tuple(own[k].shape)}" for k in missing]
    problems += [f"unexpected key {k} {tuple(sd[k].shape)}" for k in unexpected]
    problems += [f"checkpoint key {k}: expected {tuple(own[k].shape)}, got {tuple(sd[k].shape)}" for k in misshapen]
    if problems:
        raise CheckpointError(
            f"{source} does not fit {model.info.name} ({len(problems)} problem(s)):\n  " + "\n  ".join(problems)
        )
    model.load_state_dict(sd, strict=not skipped)
    return skipped


def load_checkpoint(model: AudioModel, path: str | os.PathLike) -> dict:
    """Load a checkpoint file into ``model`` (see :func:`load_state_dict_checked`); returns its metadata."""
    sd, meta = read_checkpoint(path)
    load_state_dict_checked(model, sd, source=str(path))
    return meta
