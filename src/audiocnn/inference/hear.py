"""The HEAR embedding API (Turian et al. 2022, "HEAR: Holistic Evaluation of Audio
Representations") for any registered model::

    from audiocnn import hear
    model = hear.load_model("runs/x/fold_1/model")            # a model trained by audiocnn train
    model = hear.load_model("Cnn14_16k_mAP=0.438.pth")        # an official PANNs checkpoint
    scene = hear.get_scene_embeddings(audio, model)             # (n_sounds, D)
    emb, ts = hear.get_timestamp_embeddings(audio, model)       # (n_sounds, T, D), (n_sounds, T) ms

``audio`` is a float tensor ``(n_sounds, n_samples)`` at ``model.sample_rate``. Anything else
(integer samples, another number of dimensions, no sound or no sample, NaN/inf samples) is a
``ValueError`` whose message names the rule.

Sample rate
    HEAR gives audio at one of :data:`HEAR_SAMPLE_RATES` (Hz). ``model.sample_rate`` is the
    network's own rate when it is one of them; otherwise the lowest HEAR rate above it (no band
    of the network's input is lost; the highest HEAR rate when none is above), and the audio is
    resampled to ``model.network_sample_rate`` (soxr) before the network sees it. A 32 kHz PANNs
    model thus takes 44.1 kHz audio. ``load_model(..., sample_rate=...)`` picks another rate.

Without a file, :func:`load_model` builds ``cnn14_16k`` (random weights, with a warning).

Scene embeddings
    The model's ``"embedding"`` output averaged over the windows of its bundle (a trained
    model's clip length; 10 s for PANNs, without overlap, short sounds whole).

Timestamp embeddings
    - Frame-level models with PANNs-style ``forward_conv`` (``cnn14_decision_level_*``,
      ``test_cnn_sed`` ...): the frequency-averaged feature map of the last conv block, one
      vector per pooled frame; frame ``j`` covers front-end frames ``[j*r, (j+1)*r)`` with
      ``r = model.time_ratio`` (32 for Cnn14: one embedding every 320 ms) and its timestamp is the
      centre of that span.
    - Every other model: sliding windows of ``window_seconds`` (default 1 s) every
      ``hop_seconds`` (default 0.25 s) over the sound zero-padded by half a window at both ends,
      so that window ``k`` is centred at ``k * hop``: timestamps ``0, 250, 500, ...`` ms,
      ``1 + n_samples // hop`` of them (:func:`audiocnn.audio.centred_windows`). Each window's
      ``"embedding"`` output is its vector.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from audiocnn.audio import Windowing, apply_windowed, centred_windows, resample
from audiocnn.inference.loading import open_model
from audiocnn.inference.runtime import Runner
from audiocnn.models import ModelBundle
from audiocnn.models.base import AudioModel

__all__ = ["HEAR_SAMPLE_RATES", "HearModel", "get_scene_embeddings", "get_timestamp_embeddings", "hear_sample_rate", "load_model"]

HEAR_SAMPLE_RATES: tuple[int, ...] = (16000, 22050, 44100, 48000)
"""The rates (Hz) HEAR tasks give audio in; the official validator accepts only these."""


def hear_sample_rate(network_rate: int) -> int:
    """The HEAR input rate (Hz) for a network that runs at ``network_rate`` Hz: that rate itself
    when HEAR has it, else the lowest HEAR rate above it, else the highest HEAR rate."""
    above = [r for r in HEAR_SAMPLE_RATES if r >= network_rate]
    return min(above) if above else max(HEAR_SAMPLE_RATES)


class HearModel(nn.Module):
    """An :class:`AudioModel` with the attributes the HEAR API requires. ``precision`` and ``copy``
    are :class:`~audiocnn.inference.runtime.Runner`'s (``copy=False``: bf16 folds BatchNorm into
    ``model`` itself). Scene embeddings use the windowing of ``bundle`` (default: the model's
    :meth:`ModelBundle.for_model`), with ``scene_window_seconds`` in place of its clip length when
    given. ``sample_rate`` (Hz): the rate of the audio given to the HEAR functions (default
    :func:`hear_sample_rate` of the network's rate); ``network_sample_rate`` is the network's."""

    def __init__(
        self,
        model: AudioModel,
        precision: str = "fp32",
        window_seconds: float = 1.0,
        hop_seconds: float = 0.25,
        scene_window_seconds: float | None = None,
        batch_size: int = 16,
        copy: bool = True,
        bundle: ModelBundle | None = None,
        sample_rate: int | None = None,
    ) -> None:
        super().__init__()
        self.bundle = (bundle or ModelBundle.for_model(model)).with_overrides("the HEAR settings", clip_seconds=scene_window_seconds)
        self.runner = Runner(model, precision=precision, copy=copy)
        self.model = self.runner.model
        self.info = model.info
        self.network_sample_rate = int(model.sample_rate)
        self.sample_rate = int(sample_rate) if sample_rate is not None else hear_sample_rate(self.network_sample_rate)
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive number of Hz, got {sample_rate}")
        self.batch_size = batch_size
        self.window = max(int(round(window_seconds * self.network_sample_rate)), model.info.min_samples)
        self.hop = max(1, int(round(hop_seconds * self.network_sample_rate)))
        self.scene_windowing: Windowing = self.bundle.windowing
        self.scene_window, self.scene_hop = self.scene_windowing.sizes(self.network_sample_rate, model.info.min_samples)
        self.scene_embedding_size = int(model.embedding_dim)
        self.frame_features = bool(model.info.frame_level and hasattr(model, "forward_conv") and hasattr(model, "time_ratio"))
        if self.frame_features:
            with torch.inference_mode():
                probe = getattr(self.model, "forward_conv")(torch.zeros(1, max(model.info.min_samples, self.network_sample_rate)))
            self.frame_features = probe.dim() == 3
            self.timestamp_embedding_size = int(probe.shape[1]) if self.frame_features else self.scene_embedding_size
        else:
            self.timestamp_embedding_size = self.scene_embedding_size

    def forward(self, audio: torch.Tensor) -> torch.Tensor:  # pragma: no cover - convenience
        return get_scene_embeddings(audio, self)


DEFAULT_MODEL = "cnn14_16k"


def load_model(model_file_path: str | os.PathLike = "", model_name: str | None = None, **kwargs: Any) -> HearModel:
    """The HEAR entry point: a model from ``model_file_path`` -- a checkpoint or model folder
    written by ``audiocnn train`` (its bundle names the model), or an official PANNs checkpoint
    (``model_name``, or the name its file name implies) -- or, with ``""``, ``model_name``
    (default ``cnn14_16k``) with random weights and a warning. ``kwargs``: ``precision``,
    ``window_seconds``, ``hop_seconds``, ``scene_window_seconds``, ``batch_size``,
    ``sample_rate`` (see :class:`HearModel`)."""
    path = model_file_path or None
    net, bundle = open_model(model_name or (None if path else DEFAULT_MODEL), path)
    return HearModel(net, bundle=bundle, **{"copy": False, **kwargs})  # the network is ours: bf16 may fold it in place


def _validated(audio: Any) -> torch.Tensor:
    """The HEAR input rules, each with its own message: a 2-D ``(n_sounds, n_samples)`` batch of
    float samples (integer PCM is refused: HEAR passes floats in [-1, 1]), at least one sound of
    at least one sample, every sample finite."""
    if not isinstance(audio, torch.Tensor):
        try:
            audio = torch.as_tensor(np.asarray(audio))
        except (TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"HEAR audio: expected a float tensor (n_sounds, n_samples), got {type(audio).__name__} ({e})") from None
    if not audio.is_floating_point():
        raise ValueError(f"HEAR audio: expected float samples in [-1, 1], got dtype {audio.dtype} "
                         "(scale integer PCM to floats first, e.g. int16 / 32768)")
    if audio.dim() != 2:
        raise ValueError(f"HEAR audio: expected a 2-D batch (n_sounds, n_samples), got shape {tuple(audio.shape)}")
    if audio.shape[0] == 0 or audio.shape[1] == 0:
        raise ValueError(f"HEAR audio: expected at least one sound of at least one sample, got shape {tuple(audio.shape)}")
    finite = torch.isfinite(audio).all(dim=1)
    if not bool(finite.all()):
        bad = (~finite).nonzero().flatten().tolist()
        raise ValueError(f"HEAR audio: every sample must be finite; sound(s) {bad[:5]}{' ...' if len(bad) > 5 else ''} "
                         f"hold {int((~torch.isfinite(audio)).sum())} NaN/inf sample(s) in all")
    return audio


def _check_audio(audio: torch.Tensor | np.ndarray, model: HearModel) -> torch.Tensor:
    """``(n_sounds, n_samples)`` at ``model.sample_rate`` -> the same sounds at the network's rate,
    float32 on the CPU (checked by :func:`_validated`)."""
    audio = _validated(audio).detach().cpu().float()
    if model.sample_rate == model.network_sample_rate:
        return audio
    rows = [resample(x, model.sample_rate, model.network_sample_rate) for x in audio.numpy()]
    return torch.from_numpy(np.stack(rows))


def _embed(model: HearModel, windows: np.ndarray) -> np.ndarray:
    return model.runner(torch.as_tensor(windows))["embedding"].float().numpy()


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """``(n_sounds, n_samples)`` -> ``(n_sounds, scene_embedding_size)``."""
    audio = _check_audio(audio, model)
    w = model.scene_windowing
    emb = apply_windowed(
        lambda b: _embed(model, b), list(audio.numpy()), model.scene_window, model.scene_hop,
        pad_short=w.pad_short, how="mean", batch_size=model.batch_size,
    )
    return torch.from_numpy(emb)


def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n_sounds, n_samples)`` -> ``(embeddings (n_sounds, T, D), timestamps (n_sounds, T) ms)``."""
    audio = _check_audio(audio, model)
    n_sounds, n = audio.shape
    sr = model.network_sample_rate
    if model.frame_features:
        x = model.runner.pad_short(audio)
        forward_conv = getattr(model.model, "forward_conv")  # frame-level PANNs models (checked in HearModel)
        feats = torch.cat([model.runner.run(forward_conv, x[i : i + model.batch_size]).float() for i in range(0, n_sounds, model.batch_size)])
        emb = feats.transpose(1, 2).float()  # (sounds, T, C)
        r = int(getattr(model.model, "time_ratio"))
        hop_s = 1.0 / model.info.frame_rate
        t = (torch.arange(emb.shape[1], dtype=torch.float64) * r + (r - 1) / 2) * hop_s * 1000.0
        return emb, t[None].expand(n_sounds, -1).float().contiguous()
    windows = np.stack([centred_windows(x, model.window, model.hop) for x in audio.numpy()])  # (sounds, T, window)
    count = windows.shape[1]
    flat = windows.reshape(-1, model.window)
    vectors = np.concatenate([_embed(model, flat[i : i + model.batch_size]) for i in range(0, len(flat), model.batch_size)])
    t = torch.arange(count, dtype=torch.float64) * model.hop / sr * 1000.0
    return torch.from_numpy(vectors).reshape(n_sounds, count, -1), t[None].expand(n_sounds, -1).float().contiguous()
