"""The HEAR embedding API (Turian et al. 2022, "HEAR: Holistic Evaluation of Audio
Representations") for any registered model::

    from audiocnn import hear
    model = hear.load_model("Cnn14_mAP=0.431.pth", model_name="cnn14")
    scene = hear.get_scene_embeddings(audio, model)             # (n_sounds, D)
    emb, ts = hear.get_timestamp_embeddings(audio, model)       # (n_sounds, T, D), (n_sounds, T) ms

``audio`` is a float tensor ``(n_sounds, n_samples)`` at ``model.sample_rate``.

Scene embeddings
    The model's ``"embedding"`` output; sounds longer than ``scene_window_seconds`` (default
    10 s) are averaged over windows of that length (hop = window, last one aligned with the end).

Timestamp embeddings
    - Frame-level models with PANNs-style ``forward_conv`` (``cnn14_decision_level_*``,
      ``test_cnn_sed`` ...): the frequency-averaged feature map of the last conv block, one
      vector per pooled frame; frame ``j`` covers front-end frames ``[j*r, (j+1)*r)`` with
      ``r = model.time_ratio`` (32 for Cnn14: one embedding every 320 ms) and its timestamp is the
      centre of that span.
    - Every other model: sliding windows of ``window_seconds`` (default 1 s) every
      ``hop_seconds`` (default 0.25 s) over the sound zero-padded by half a window at both ends,
      so that window ``k`` is centred at ``k * hop``: timestamps ``0, 250, 500, ...`` ms,
      ``1 + n_samples // hop`` of them. Each window's ``"embedding"`` output is its vector.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audiocnn.inference._stream import windows_of
from audiocnn.inference.runtime import Runner, load_model as _load_audio_model
from audiocnn.models.base import AudioModel

__all__ = ["HearModel", "get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


class HearModel(nn.Module):
    """An :class:`AudioModel` with the attributes the HEAR API requires. ``precision`` and ``copy``
    are :class:`~audiocnn.inference.runtime.Runner`'s (``copy=False``: bf16 folds BatchNorm into
    ``model`` itself)."""

    def __init__(
        self,
        model: AudioModel,
        precision: str = "fp32",
        window_seconds: float = 1.0,
        hop_seconds: float = 0.25,
        scene_window_seconds: float = 10.0,
        batch_size: int = 16,
        copy: bool = True,
    ):
        super().__init__()
        self.runner = Runner(model, precision=precision, copy=copy)
        self.model = self.runner.model
        self.info = model.info
        self.sample_rate = int(model.sample_rate)
        self.batch_size = batch_size
        self.window = max(int(round(window_seconds * self.sample_rate)), model.info.min_samples)
        self.hop = max(1, int(round(hop_seconds * self.sample_rate)))
        self.scene_window = max(int(round(scene_window_seconds * self.sample_rate)), model.info.min_samples)
        self.scene_embedding_size = int(model.embedding_dim)
        self.frame_features = bool(model.info.frame_level and hasattr(model, "forward_conv") and hasattr(model, "time_ratio"))
        if self.frame_features:
            with torch.inference_mode():
                probe = self.model.forward_conv(torch.zeros(1, max(model.info.min_samples, self.sample_rate)))
            self.frame_features = probe.dim() == 3
            self.timestamp_embedding_size = int(probe.shape[1]) if self.frame_features else self.scene_embedding_size
        else:
            self.timestamp_embedding_size = self.scene_embedding_size

    def forward(self, audio: torch.Tensor) -> torch.Tensor:  # pragma: no cover - convenience
        return get_scene_embeddings(audio, self)


def load_model(model_file_path: str | os.PathLike = "", model_name: str = "cnn14", **kwargs) -> HearModel:
    """Build ``model_name`` with the weights in ``model_file_path`` ("" = random weights, with a
    warning). ``kwargs``: ``precision``, ``window_seconds``, ``hop_seconds``,
    ``scene_window_seconds``, ``batch_size`` (see :class:`HearModel`)."""
    net, _ = _load_audio_model(model_name, checkpoint=model_file_path or None)
    return HearModel(net, **{"copy": False, **kwargs})  # the network is ours: bf16 may fold it in place


def _check_audio(audio, model: HearModel) -> torch.Tensor:
    audio = torch.as_tensor(audio, dtype=torch.float32)
    if audio.dim() != 2:
        raise ValueError(f"HEAR audio must be (n_sounds, n_samples), got shape {tuple(audio.shape)}")
    return audio


def _batched(model: HearModel, windows: torch.Tensor, key: str = "embedding") -> torch.Tensor:
    outs = [model.runner(windows[i : i + model.batch_size])[key] for i in range(0, windows.shape[0], model.batch_size)]
    return torch.cat(outs) if outs else torch.zeros(0, model.scene_embedding_size)


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """``(n_sounds, n_samples)`` -> ``(n_sounds, scene_embedding_size)``."""
    audio = _check_audio(audio, model)
    n = audio.shape[1]
    if n <= model.scene_window:
        return _batched(model, audio)
    starts = [s for s, _ in windows_of(np.empty(n, dtype=np.int8), model.scene_window)]
    windows = torch.stack([audio[:, s : s + model.scene_window] for s in starts], dim=1)  # (sounds, w, len)
    emb = _batched(model, windows.reshape(-1, model.scene_window))
    return emb.reshape(audio.shape[0], len(starts), -1).mean(dim=1)


def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n_sounds, n_samples)`` -> ``(embeddings (n_sounds, T, D), timestamps (n_sounds, T) ms)``."""
    audio = _check_audio(audio, model)
    n_sounds, n = audio.shape
    sr = model.sample_rate
    if model.frame_features:
        x = model.runner.pad_short(audio)
        feats = torch.cat([model.runner.run(model.model.forward_conv, x[i : i + model.batch_size]).float() for i in range(0, n_sounds, model.batch_size)])
        emb = feats.transpose(1, 2).float()  # (sounds, T, C)
        r = int(model.model.time_ratio)
        hop_s = 1.0 / model.info.frame_rate
        t = (torch.arange(emb.shape[1], dtype=torch.float64) * r + (r - 1) / 2) * hop_s * 1000.0
        return emb, t[None].expand(n_sounds, -1).float().contiguous()
    half = model.window // 2
    padded = F.pad(audio, (half, model.window - half))
    count = 1 + n // model.hop
    windows = padded.unfold(1, model.window, model.hop)[:, :count]  # (sounds, T, window)
    emb = _batched(model, windows.reshape(-1, model.window)).reshape(n_sounds, count, -1)
    t = torch.arange(count, dtype=torch.float64) * model.hop / sr * 1000.0
    return emb, t[None].expand(n_sounds, -1).float().contiguous()
