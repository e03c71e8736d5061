"""MFCC baseline features: 20 MFCCs + deltas + delta-deltas, mean and std over time (120 dims).

MFCCs are the orthonormal DCT-II of the log-mel in dB (:class:`audiocnn.features.LogMel`), as
``librosa.feature.mfcc``; deltas are the local least-squares slope over 9 frames with edge
frames repeated (``librosa.feature.delta(..., mode="nearest")``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from audiocnn.features.spectrogram import LogMel, dct_matrix

__all__ = ["MFCC", "delta", "dct_matrix", "mfcc_stats", "masked_mfcc_stats"]


def delta(x: torch.Tensor, width: int = 9) -> torch.Tensor:
    """First derivative along the last axis: least-squares slope over ``width`` frames, edges
    padded by repetition. ``(..., frames)`` -> same shape."""
    if width < 3 or width % 2 == 0:
        raise ValueError(f"width must be an odd integer >= 3, got {width}")
    half = width // 2
    shape = x.shape
    flat = x.reshape(-1, 1, shape[-1])
    padded = nn.functional.pad(flat, (half, half), mode="replicate")
    n = torch.arange(-half, half + 1, dtype=x.dtype)
    kernel = (n / n.square().sum())[None, None]  # conv1d correlates: out[t] = sum_n k[n] x[t+n]
    return nn.functional.conv1d(padded, kernel).reshape(shape)


class MFCC(nn.Module):
    """Waveform ``(batch, samples)`` -> MFCC ``(batch, n_mfcc, frames)``.

    Defaults: 25 ms window / 10 ms hop at ``sample_rate``, 40 mel bins, 20 coefficients.
    """

    def __init__(self, sample_rate: int = 16000, n_mfcc: int = 20, n_mels: int = 40, win_seconds: float = 0.025, hop_seconds: float = 0.010, f_min: float = 0.0, f_max: float | None = None):
        super().__init__()
        n_fft = 1 << max(1, math.ceil(math.log2(win_seconds * sample_rate)))
        self.sample_rate, self.n_mfcc = sample_rate, n_mfcc
        self.logmel = LogMel(sample_rate, n_fft, max(1, round(hop_seconds * sample_rate)), n_mels, f_min, f_max, win_length=round(win_seconds * sample_rate), top_db=80.0)
        self.register_buffer("dct", dct_matrix(n_mels, n_mfcc), persistent=False)

    @property
    def min_samples(self) -> int:
        return self.logmel.n_fft // 2 + 1

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return (self.logmel(waveform) @ self.dct).transpose(1, 2)

    def with_activity(self, waveform: torch.Tensor, floor_db: float = 80.0) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mfcc (batch, n_mfcc, frames), active (batch, frames))``: ``active`` marks the
        frames whose loudest mel bin is within ``floor_db`` dB of the clip's loudest (zero
        padding and digital silence are not active)."""
        logmel = self.logmel(waveform)  # (batch, frames, n_mels), dB
        peak = logmel.amax(dim=2)
        active = peak > peak.amax(dim=1, keepdim=True) - floor_db + 1e-3
        return (logmel @ self.dct).transpose(1, 2), active


def mfcc_stats(mfcc: torch.Tensor) -> torch.Tensor:
    """``(batch, n_mfcc, frames)`` -> ``(batch, 6 n_mfcc)``: mean and std over time of the MFCCs,
    their deltas and delta-deltas, in that order: [mean(c), mean(d), mean(dd), std(c), std(d), std(dd)]."""
    d = delta(mfcc)
    dd = delta(d)
    stack = torch.cat([mfcc, d, dd], dim=1)
    return torch.cat([stack.mean(dim=2), stack.std(dim=2, unbiased=False)], dim=1)


def masked_mfcc_stats(mfcc: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """As :func:`mfcc_stats`, with the mean and standard deviation taken over the ``active``
    frames only (``(batch, frames)`` booleans; a clip with none uses all its frames): the
    statistics of a short recording zero-padded to a window are those of the recording."""
    d = delta(mfcc)
    dd = delta(d)
    stack = torch.cat([mfcc, d, dd], dim=1)  # (batch, 3 n_mfcc, frames)
    w = active.to(stack.dtype)
    w = torch.where(w.sum(dim=1, keepdim=True) > 0, w, torch.ones_like(w))[:, None]  # (batch, 1, frames)
    n = w.sum(dim=2)
    mean = (stack * w).sum(dim=2) / n
    var = ((stack - mean[..., None]).square() * w).sum(dim=2) / n
    return torch.cat([mean, var.sqrt()], dim=1)
