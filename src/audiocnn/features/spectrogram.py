"""Log-mel front-end in plain PyTorch, numerically matching PANNs (torchlibrosa 0.1.0 + librosa).

Pure functions first, then thin :class:`torch.nn.Module` wrappers that hold the constant
tensors as buffers. The STFT uses :func:`torch.stft` (an FFT) instead of the 1-D convolution
with a DFT kernel that torchlibrosa uses; the result is the same, several times faster.

Shapes: waveforms are ``(batch, samples)``; spectrograms are ``(batch, frames, bins)`` with
``frames = 1 + samples // hop_length`` (centred frames).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = [
    "LogMel",
    "MelSpectrogram",
    "dct_matrix",
    "hann_window",
    "hz_to_mel",
    "mel_filterbank",
    "mel_to_hz",
    "power_to_db",
    "stft_power",
]


# --------------------------------------------------------------------------------------------
# Pure functions


def hann_window(length: int, periodic: bool = True, dtype=torch.float32) -> torch.Tensor:
    """Hann window; ``periodic=True`` is the DFT-even window librosa/scipy use for STFTs."""
    return torch.hann_window(length, periodic=periodic, dtype=dtype)


def hz_to_mel(freq, htk: bool = False):
    """Hertz to mel: Slaney's scale (linear below 1 kHz, log above) or HTK's."""
    f = np.asanyarray(freq, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-30) / min_log_hz) / logstep, mels)


def mel_to_hz(mels, htk: bool = False):
    """Inverse of :func:`hz_to_mel`."""
    m = np.asanyarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
) -> np.ndarray:
    """Triangular mel filterbank, ``(n_fft // 2 + 1, n_mels)`` float32.

    With the defaults this equals ``librosa.filters.mel(...).T`` (Slaney scale, area
    normalisation), which is what the PANNs checkpoints store as ``logmel_extractor.melW``.
    Computed in float64 and rounded once, as librosa does.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2 + 1e-9:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate/2, got {f_min}, {f_max}, {sample_rate}")
    fft_freqs = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    mel_points = np.linspace(hz_to_mel(f_min, htk), hz_to_mel(f_max, htk), n_mels + 2)
    hz_points = mel_to_hz(mel_points, htk)
    fdiff = np.diff(hz_points)
    ramps = hz_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (hz_points[2 : n_mels + 2] - hz_points[:n_mels]))[:, None]
    elif norm is not None:
        raise ValueError(f"norm must be 'slaney' or None, got {norm!r}")
    return np.ascontiguousarray(weights.T, dtype=np.float32)


def stft_power(
    waveform: torch.Tensor,
    n_fft: int,
    hop_length: int,
    window: torch.Tensor,
    center: bool = True,
    pad_mode: str = "reflect",
) -> torch.Tensor:
    """Power spectrogram ``|STFT|^2``: ``(batch, samples)`` -> ``(batch, frames, n_fft//2+1)``."""
    if waveform.dim() != 2:
        raise ValueError(f"expected a (batch, samples) waveform, got shape {list(waveform.shape)}")
    spec = torch.stft(
        waveform,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=window.shape[0],
        window=window,
        center=center,
        pad_mode=pad_mode,
        return_complex=True,
    )
    spec = torch.view_as_real(spec)
    return spec.pow(2).sum(-1).transpose(1, 2)


def power_to_db(power: torch.Tensor, amin: float = 1e-10, ref: float = 1.0, top_db: float | None = None) -> torch.Tensor:
    """``10 * log10(max(power, amin) / max(ref, amin))``, optionally clipped ``top_db`` below the max."""
    db = 10.0 * torch.log10(torch.clamp(power, min=amin))
    if ref != 1.0:
        db = db - 10.0 * math.log10(max(amin, ref))
    if top_db is not None:
        if top_db < 0:
            raise ValueError("top_db must be non-negative")
        peak = db.flatten(1).amax(dim=1).view([-1] + [1] * (db.dim() - 1))
        db = torch.maximum(db, peak - top_db)
    return db


# --------------------------------------------------------------------------------------------
# Modules


class MelSpectrogram(nn.Module):
    """Waveform ``(batch, samples)`` -> mel power ``(batch, frames, n_mels)``.

    The filterbank is stored as the persistent buffer ``melW`` ``(n_fft//2+1, n_mels)`` so that a
    PANNs checkpoint's ``logmel_extractor.melW`` loads into it unchanged.
    """

    def __init__(
        self,
        sample_rate: int = 32000,
        n_fft: int = 1024,
        hop_length: int = 320,
        n_mels: int = 64,
        f_min: float = 50.0,
        f_max: float | None = 14000.0,
        win_length: int | None = None,
        center: bool = True,
        pad_mode: str = "reflect",
    ):
        super().__init__()
        win_length = win_length or n_fft
        if win_length > n_fft:
            raise ValueError(f"win_length ({win_length}) must be <= n_fft ({n_fft})")
        self.sample_rate, self.n_fft, self.hop_length = sample_rate, n_fft, hop_length
        self.n_mels, self.f_min, self.f_max = n_mels, f_min, f_max
        self.center, self.pad_mode = center, pad_mode
        window = hann_window(win_length)
        if win_length < n_fft:  # centre the window in the FFT frame, as librosa does
            left = (n_fft - win_length) // 2
            window = nn.functional.pad(window, (left, n_fft - win_length - left))
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("melW", torch.from_numpy(mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max)))

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return self.sample_rate / self.hop_length

    def num_frames(self, num_samples: int) -> int:
        return 1 + num_samples // self.hop_length if self.center else 1 + (num_samples - self.n_fft) // self.hop_length

    def mel_power_bins_first(self, waveform: torch.Tensor) -> torch.Tensor:
        """Mel power in torch.stft's layout ``(batch, n_mels, frames)``, contiguous.

        Element-wise work (dB, normalisation) is several times faster on this layout than on
        its transpose, so subclasses apply it here and transpose last.
        """
        if waveform.dim() != 2:
            raise ValueError(f"expected a (batch, samples) waveform, got shape {list(waveform.shape)}")
        spec = torch.stft(
            waveform,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.window.shape[0],
            window=self.window,
            center=self.center,
            pad_mode=self.pad_mode,
            return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()
        return torch.matmul(self.melW.t(), power)

    def mel_power(self, waveform: torch.Tensor) -> torch.Tensor:
        """Mel power ``(batch, frames, n_mels)``."""
        return self.mel_power_bins_first(waveform).transpose(1, 2)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.mel_power(waveform)

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop_length={self.hop_length}, "
            f"n_mels={self.n_mels}, f_min={self.f_min}, f_max={self.f_max}"
        )


class LogMel(MelSpectrogram):
    """Waveform ``(batch, samples)`` -> log-mel in dB ``(batch, frames, n_mels)``.

    Defaults are the PANNs 32 kHz settings: n_fft = window = 1024, hop 320 (10 ms), 64 bins,
    50 Hz - 14 kHz, ``10*log10(max(x, 1e-10))`` with no ``top_db`` clipping.
    """

    def __init__(self, *args, amin: float = 1e-10, ref: float = 1.0, top_db: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.amin, self.ref, self.top_db = amin, ref, top_db

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return power_to_db(self.mel_power_bins_first(waveform), self.amin, self.ref, self.top_db).transpose(1, 2)


def dct_matrix(n_mels: int, n_mfcc: int) -> torch.Tensor:
    """Orthonormal DCT-II basis ``(n_mels, n_mfcc)`` (``scipy.fft.dct(..., norm="ortho")``)."""
    n = torch.arange(n_mels, dtype=torch.float64)
    k = torch.arange(n_mfcc, dtype=torch.float64)
    basis = torch.cos(math.pi / n_mels * (n[:, None] + 0.5) * k[None, :]) * math.sqrt(2.0 / n_mels)
    basis[:, 0] /= math.sqrt(2.0)
    return basis.float()
