"""Three-channel multi-resolution log-mel: the input of ImageNet CNNs used on audio.

Palanisamy, Singhania and Yao, "Rethinking CNN models for audio classification" (arXiv
2007.11154, 2020) feed standard image CNNs a 3-channel "image" made of three mel-spectrograms
of the same clip computed with different window/hop lengths:

===========  ========  =======
channel      window    hop
===========  ========  =======
0            25 ms     10 ms
1            50 ms     25 ms
2            100 ms    50 ms
===========  ========  =======

each with 128 mel bins and ``log(x + 1e-6)``, resized along time to a common number of frames
(250 for a 5-s clip, i.e. 50 frames per second; the study used 1,500 for 30-s GTZAN clips,
the same rate) and stacked as the three image channels: ``(batch, 3, 128, frames)``, rows are
mel bands (low frequencies first), columns are time.

Settings taken from the study's code (torchaudio ``MelSpectrogram`` defaults): power
spectrogram, FFT size = the longest window (100 ms: 4,410 samples at 44.1 kHz), shorter windows
are Hann windows centred in that FFT frame, centred frames with reflect padding, HTK mel scale
without area normalisation, 0 Hz to Nyquist. The study resized with PIL's bilinear filter; here
the resize is :func:`torch.nn.functional.interpolate` (bilinear, ``antialias=True``, which follows
PIL's filter) so that the whole transform is differentiable (saliency maps need the gradient).

Sample rate: the study used 44.1 kHz for ESC-50/UrbanSound8K and 22.05 kHz for GTZAN. Our default
is **22,050 Hz**: it keeps the study's settings (every length is given in milliseconds), covers
the band up to 11 kHz where nearly all the energy of speech and everyday sounds is, and halves the
STFT cost against 44.1 kHz. Pass ``sample_rate=44100`` to follow the ESC-50 setting exactly.

Optional ImageNet normalisation (``normalize=True``): ImageNet statistics are defined for
pixel values in [0, 1], while log-mel values span roughly [-14, 10]; each channel of each clip is
therefore first min-max scaled to [0, 1] and then standardised with the ImageNet channel means
``(0.485, 0.456, 0.406)`` and standard deviations ``(0.229, 0.224, 0.225)``. The study fed the raw
log values (``normalize=False``, our default); every backbone starts with a batch norm after its
first convolution, so the scale matters little when training.
"""

from __future__ import annotations

from fractions import Fraction

import torch
import torch.nn.functional as F
from torch import nn

from audiocnn.features.spectrogram import hann_window, hz_to_mel, mel_filterbank, mel_to_hz, stft_power

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MultiResolutionMel",
    "linear_resize_matrix",
    "multi_resolution_mel",
    "num_multires_frames",
    "resize_frames",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The study's three resolutions (window, hop) in milliseconds.
STUDY_WINDOWS_MS = (25.0, 50.0, 100.0)
STUDY_HOPS_MS = (10.0, 25.0, 50.0)


def num_multires_frames(num_samples, sample_rate: int, frames_per_second: float = 50.0):
    """Common frame count of the stacked image: 250 for a 5-s clip at the default 50 frames/s.

    ``round(num_samples * frames_per_second / sample_rate)`` (half to even, at least 1), computed
    in integers on the exact fraction ``frames_per_second / sample_rate``, so that ``num_samples``
    may be an int or, while the model is exported (``torch.export``), a symbolic int: the exported
    graph then follows the input length instead of freezing the example's.
    """
    ratio = Fraction(frames_per_second) / sample_rate
    num, den = ratio.numerator, ratio.denominator
    t = 2 * num_samples * num + den  # round half up: t // (2 den)
    k = t // (2 * den)
    tie = 1 - torch.sym_min(1, t % (2 * den))  # 1 when n * num / den is exactly k - 1/2
    return torch.sym_max(1, k - tie * (k % 2))  # a tie rounds to the even neighbour


def linear_resize_matrix(in_size, out_size, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Weights ``(in_size, out_size)`` of an antialiased linear resize along one axis.

    ``x @ linear_resize_matrix(n, m)`` equals ``F.interpolate`` (``"bilinear"`` along that axis,
    ``align_corners=False``, ``antialias=True``: PIL's triangle filter, widened by the scale
    when shrinking) up to float rounding. Sizes are ints or symbolic ints (``torch.export``), so
    the resize can be exported with a dynamic length; ``F.interpolate``'s antialiased mode has
    no ONNX equivalent. Weights are computed in float64 and cast to ``dtype``.
    """
    f64 = torch.float64
    scale = in_size / out_size  # input samples per output sample (a Python or symbolic float)
    support = torch.sym_max(scale, 1.0)  # the triangle spans +-1 input sample, +-scale when shrinking
    centre = (torch.arange(out_size, dtype=f64) + 0.5) * scale  # (out,), in input samples
    pos = torch.arange(in_size, dtype=f64) + 0.5  # (in,)
    w = torch.clamp(1.0 - torch.abs(pos[:, None] - centre[None, :]) / support, min=0.0)
    return (w / w.sum(dim=0, keepdim=True)).to(dtype)


def resize_frames(spec: torch.Tensor, frames) -> torch.Tensor:
    """Resize ``(batch, mels, time)`` to ``(batch, mels, frames)`` along time (bilinear, antialiased).

    The mel axis keeps its size, so only time is interpolated. Differentiable. While the model is
    exported (``torch.export``; ``frames`` may then be symbolic, see :func:`num_multires_frames`)
    the same resize is a product with :func:`linear_resize_matrix`, which follows a dynamic
    input length and has an ONNX form.
    """
    if torch.compiler.is_exporting():
        return torch.matmul(spec, linear_resize_matrix(spec.shape[-1], frames, spec.dtype).to(spec.device))
    if spec.shape[-1] == frames:
        return spec
    # the antialiased kernel has no half-precision form: resize those in float32 (bf16 autocast training)
    x = spec if spec.dtype in (torch.float32, torch.float64) else spec.float()
    x = F.interpolate(x[:, None], size=(spec.shape[-2], frames), mode="bilinear", align_corners=False, antialias=True)
    return x[:, 0].to(spec.dtype)


def _padded_window(win_length: int, n_fft: int, dtype=torch.float32) -> torch.Tensor:
    w = hann_window(win_length, dtype=dtype)
    left = (n_fft - win_length) // 2
    return F.pad(w, (left, n_fft - win_length - left))


def _multires(
    waveform: torch.Tensor,
    windows: list[torch.Tensor],
    hops: list[int],
    melW: torch.Tensor,
    n_fft: int,
    frames,
    eps: float,
    normalize: bool,
) -> torch.Tensor:
    powers = (stft_power(waveform, n_fft, hop, window) for window, hop in zip(windows, hops))
    return _stack_channels(powers, melW, frames, eps, normalize)


def _stack_channels(powers, melW: torch.Tensor, frames, eps: float, normalize: bool) -> torch.Tensor:
    """Power spectrograms ``(batch, time_c, bins)`` (an iterable, consumed one at a time) -> image."""
    channels = []
    for power in powers:  # (batch, time, n_fft//2+1)
        mel = torch.matmul(power, melW).transpose(1, 2)  # (batch, mels, time)
        channels.append(resize_frames(torch.log(mel + eps), frames))
    x = torch.stack(channels, dim=1)  # (batch, 3, mels, frames)
    if normalize:
        lo = x.amin(dim=(2, 3), keepdim=True)
        hi = x.amax(dim=(2, 3), keepdim=True)
        x = (x - lo) / (hi - lo).clamp(min=1e-8)
        mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device)[None, :, None, None]
        std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device)[None, :, None, None]
        x = (x - mean) / std
    return x


def _study_lengths(sample_rate: int, windows_ms, hops_ms) -> tuple[list[int], list[int], int]:
    if len(windows_ms) != len(hops_ms):
        raise ValueError(f"need one hop per window, got {len(windows_ms)} windows and {len(hops_ms)} hops")
    wins = [int(round(w * sample_rate / 1000)) for w in windows_ms]
    hops = [int(round(h * sample_rate / 1000)) for h in hops_ms]
    if min(wins) < 2 or min(hops) < 1:
        raise ValueError(f"windows {windows_ms} ms / hops {hops_ms} ms are too short at {sample_rate} Hz")
    return wins, hops, max(wins)


def multi_resolution_mel(
    waveform: torch.Tensor,
    sample_rate: int = 22050,
    n_mels: int = 128,
    windows_ms: tuple[float, ...] = STUDY_WINDOWS_MS,
    hops_ms: tuple[float, ...] = STUDY_HOPS_MS,
    frames_per_second: float = 50.0,
    f_min: float = 0.0,
    f_max: float | None = None,
    eps: float = 1e-6,
    normalize: bool = False,
) -> torch.Tensor:
    """Waveform ``(batch, samples)`` -> image ``(batch, len(windows_ms), n_mels, frames)``.

    Pure-function form of :class:`MultiResolutionMel` (which caches the filterbank and windows);
    see the module docstring for the settings. ``frames`` = :func:`num_multires_frames`.
    """
    wins, hops, n_fft = _study_lengths(sample_rate, windows_ms, hops_ms)
    melW = torch.from_numpy(mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max, htk=True, norm=None))
    melW = melW.to(waveform.device, waveform.dtype)
    windows = [_padded_window(w, n_fft, waveform.dtype).to(waveform.device) for w in wins]
    frames = num_multires_frames(waveform.shape[-1], sample_rate, frames_per_second)
    return _multires(waveform, windows, hops, melW, n_fft, frames, eps, normalize)


class MultiResolutionMel(nn.Module):
    """Waveform ``(batch, samples)`` -> 3-channel log-mel image ``(batch, 3, n_mels, frames)``.

    Args:
        sample_rate: input rate in Hz (default 22,050; the study used 44,100 for ESC-50).
        n_mels: mel bands (rows of the image), 128 in the study.
        windows_ms / hops_ms: one (window, hop) pair per channel, in milliseconds.
        frames_per_second: columns of the image per second of audio (250 per 5 s).
        f_min / f_max: mel range in Hz (default 0 to Nyquist).
        eps: added before the log, ``log(mel + eps)``.
        normalize: min-max to [0, 1] then ImageNet mean/std per channel (see module docstring).

    The filterbank and windows are non-persistent buffers: the module adds nothing to a state dict.
    """

    def __init__(
        self,
        sample_rate: int = 22050,
        n_mels: int = 128,
        windows_ms: tuple[float, ...] = STUDY_WINDOWS_MS,
        hops_ms: tuple[float, ...] = STUDY_HOPS_MS,
        frames_per_second: float = 50.0,
        f_min: float = 0.0,
        f_max: float | None = None,
        eps: float = 1e-6,
        normalize: bool = False,
    ):
        super().__init__()
        wins, hops, n_fft = _study_lengths(sample_rate, windows_ms, hops_ms)
        self.sample_rate, self.n_mels, self.n_fft = sample_rate, n_mels, n_fft
        self.win_lengths, self.hop_lengths = wins, hops
        self.windows_ms, self.hops_ms = tuple(windows_ms), tuple(hops_ms)
        self.frames_per_second = frames_per_second
        self.f_min, self.f_max = f_min, sample_rate / 2 if f_max is None else f_max
        self.eps, self.normalize = eps, normalize
        fb = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max, htk=True, norm=None)
        self.register_buffer("melW", torch.from_numpy(fb), persistent=False)
        for i, w in enumerate(wins):
            self.register_buffer(f"hann_{i}", _padded_window(w, n_fft), persistent=False)

    @property
    def num_channels(self) -> int:
        return len(self.win_lengths)

    @property
    def min_samples(self) -> int:
        """Shortest input: reflect padding of the centred STFT needs more than ``n_fft // 2`` samples."""
        return self.n_fft // 2 + 1

    def num_frames(self, num_samples):
        """Image width for ``num_samples`` (int; symbolic while exported, see :func:`num_multires_frames`)."""
        return num_multires_frames(num_samples, self.sample_rate, self.frames_per_second)

    def frame_times(self, num_samples: int) -> torch.Tensor:
        """Centre time in seconds of each image column, ``(frames,)``."""
        frames = self.num_frames(num_samples)
        duration = num_samples / self.sample_rate
        return (torch.arange(frames, dtype=torch.float64) + 0.5) * (duration / frames)

    def mel_frequencies(self) -> torch.Tensor:
        """Centre frequency in Hz of each image row (HTK mel scale), ``(n_mels,)``."""
        m = torch.linspace(float(hz_to_mel(self.f_min, htk=True)), float(hz_to_mel(self.f_max, htk=True)), self.n_mels + 2)
        return torch.from_numpy(mel_to_hz(m.numpy(), htk=True))[1:-1]

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if waveform.dim() != 2:
            raise ValueError(f"expected a (batch, samples) waveform, got shape {tuple(waveform.shape)}")
        if waveform.shape[-1] < self.min_samples:
            raise ValueError(f"need at least {self.min_samples} samples at {self.sample_rate} Hz, got {waveform.shape[-1]}")
        frames = self.num_frames(waveform.shape[-1])  # symbolic while exported
        powers = (self.channel_power(waveform, i) for i in range(self.num_channels))
        return _stack_channels(powers, self.melW, frames, self.eps, self.normalize)

    def channel_power(self, waveform: torch.Tensor, i: int) -> torch.Tensor:
        """Power spectrogram of channel ``i``: ``(batch, samples)`` -> ``(batch, time_i, n_fft//2+1)``.

        (The ONNX export replaces this by a DFT convolution; see ``audiocnn.inference.export``.)
        """
        return stft_power(waveform, self.n_fft, self.hop_lengths[i], getattr(self, f"hann_{i}"))

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_mels={self.n_mels}, windows_ms={self.windows_ms}, "
            f"hops_ms={self.hops_ms}, n_fft={self.n_fft}, frames_per_second={self.frames_per_second}, "
            f"normalize={self.normalize}"
        )

