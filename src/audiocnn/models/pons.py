"""The CNN front-ends compared in Pons & Serra, "Randomly weighted CNNs for (music) audio
classification" (ICASSP 2019, arXiv:1805.00237).

Every front-end is a registered model like any other (it can be trained with ``audiocnn train``),
and also exposes :meth:`PonsModel.features`, the list of its feature maps, which is what the
random-weight study uses (:mod:`audiocnn.backends.random_cnn`): the embedding is the time-average
of every feature map of every layer, concatenated.

Input settings (the study's defaults; all are builder arguments):

- waveform front-ends: 16 kHz mono;
- spectrogram front-ends: 16 kHz, STFT window ``n_fft=512``, hop 256 (16 ms), 96 mel bins
  (Slaney, 0 Hz - ``f_max=sample_rate/2``), compressed as ``(dB(max(mel, 1e-4)) + 40) / 10``,
  i.e. about ``log10(1 + 10^4 mel)``, the compression of the study's code, computed with
  :class:`audiocnn.features.LogMel`; then ``bn0`` (identity until trained);
- clip length: any (the embedding averages over time); the benchmarks pad/crop to a fixed length.

Embedding size: every builder takes ``dim`` (default 3,584, the "about 3,500" of the study) and
chooses its widths so that the concatenated feature maps have (about) that many channels; the
exact size is ``model.embedding_dim``. Individual widths can also be passed explicitly.

Layers use ReLU, He-normal weights, zero biases and a batch-norm after each convolution. The
batch-norms are the identity (up to ``1/sqrt(1+eps)``) until trained, so an untrained model in
``eval()`` mode is exactly the random network of the study, and the same model trains well.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audiocnn.features.spectrogram import LogMel
from audiocnn.models._registry import register_model
from audiocnn.models.base import AudioModel, ModelInfo, init_bn, max_pool1d

__all__ = ["PonsModel", "he_init_"]

_REF = "Pons & Serra 2019, Randomly weighted CNNs for (music) audio classification (ICASSP), arXiv:1805.00237"
DEFAULT_DIM = 3584


def he_init_(module: nn.Module) -> None:
    """He-normal (fan-in, ReLU gain) weights and zero biases for every conv / linear layer, unit
    batch-norms with fresh running statistics. Uses torch's global RNG (seed it first)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            init_bn(m)
            m.reset_running_stats()


class _ConvBN(nn.Module):
    """conv -> batch-norm -> ReLU, 1-D or 2-D, with explicit (possibly asymmetric) zero padding."""

    def __init__(self, dims: int, c_in: int, c_out: int, kernel, stride=1, pad=None):
        super().__init__()
        conv, bn = (nn.Conv1d, nn.BatchNorm1d) if dims == 1 else (nn.Conv2d, nn.BatchNorm2d)
        self.pad = pad  # F.pad order: last dim first
        self.conv = conv(c_in, c_out, kernel, stride=stride, bias=False)
        self.bn = bn(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = F.pad(x, self.pad)
        return F.relu(self.bn(self.conv(x)))


def _same_pad(k: int) -> tuple[int, int]:
    """Left/right padding that keeps the length for stride 1 (TensorFlow's 'same')."""
    return ((k - 1) // 2, k // 2)


# --------------------------------------------------------------------------------------------
# Bodies: modules mapping the input representation to a list of feature maps (batch, C, ...).


class SampleLevel(nn.Module):
    """Lee et al. 2017 sample-level front-end: a 3-sample conv with stride 3, then ``layers - 1``
    blocks of (3-sample conv, max-pool 3). Input ``(batch, 1, samples)``; map ``i`` has
    ``samples / 3^i`` frames. Receptive field / minimum input: ``3^layers`` samples."""

    def __init__(self, width: int, layers: int = 7):
        super().__init__()
        self.layers = layers
        self.conv0 = _ConvBN(1, 1, width, 3, stride=3)
        self.blocks = nn.ModuleList(_ConvBN(1, width, width, 3, pad=(1, 1)) for _ in range(layers - 1))
        self.out_channels = [width] * layers

    def forward(self, x):
        x = self.conv0(x)
        maps = [x]
        for b in self.blocks:
            x = max_pool1d(b(x), 3)
            maps.append(x)
        return maps


class FrameLevelBackEnd(nn.Module):
    """The small back-end that makes the frame-level front-ends as deep as the sample-level one:
    a 7-frame conv across all input channels, a residual 7-frame conv, max-pool 2, another
    residual 7-frame conv (input ``(batch, channels, frames)``)."""

    def __init__(self, c_in: int, width: int):
        super().__init__()
        self.conv1 = _ConvBN(1, c_in, width, 7, pad=(3, 3))
        self.conv2 = _ConvBN(1, width, width, 7, pad=(3, 3))
        self.conv3 = _ConvBN(1, width, width, 7, pad=(3, 3))
        self.out_channels = [width] * 3

    def forward(self, x):
        c1 = self.conv1(x)
        c2 = self.conv2(c1) + c1
        p = max_pool1d(c2, 2, ceil_mode=True)
        c3 = self.conv3(p) + p
        return [c1, c2, c3]


class FrameLevel(nn.Module):
    """Parallel waveform convs of the given lengths, stride ``hop`` samples, concatenated, then the
    back-end. Padding is chosen so that every branch yields ``samples // hop`` frames."""

    def __init__(self, lengths: tuple[int, ...], filters: int, backend_width: int, hop: int = 32):
        super().__init__()
        self.hop = hop
        self.branches = nn.ModuleList(
            _ConvBN(1, 1, filters, k, stride=hop, pad=((k - hop) // 2, (k - hop) - (k - hop) // 2)) for k in lengths
        )
        self.backend = FrameLevelBackEnd(filters * len(lengths), backend_width)
        self.out_channels = [filters] * len(lengths) + self.backend.out_channels

    def forward(self, x):
        maps = [b(x) for b in self.branches]
        return maps + self.backend(torch.cat(maps, dim=1))


class VGG(nn.Module):
    """Five 3x3 conv layers, each followed by 2x2 max-pooling (time and frequency). Input
    ``(batch, 1, mels, frames)``."""

    def __init__(self, width: int, layers: int = 5):
        super().__init__()
        self.convs = nn.ModuleList(_ConvBN(2, 1 if i == 0 else width, width, 3, pad=(1, 1, 1, 1)) for i in range(layers))
        self.out_channels = [width] * layers

    def forward(self, x):
        maps = []
        for c in self.convs:
            x = F.max_pool2d(c(x), 2, ceil_mode=True)
            maps.append(x)
        return maps


class Vertical(nn.Module):
    """Timbral front-end: parallel convs of shape (``height`` mel bins x ``width`` frames), each
    max-pooled over frequency. ``shapes`` is a list of ``(height, width, filters)``. Input
    ``(batch, 1, mels, frames)``; each map is ``(batch, filters, frames)``."""

    def __init__(self, shapes: list[tuple[int, int, int]], n_mels: int):
        super().__init__()
        for h, _, _ in shapes:
            if not 1 <= h <= n_mels:
                raise ValueError(f"filter height {h} must be between 1 and the {n_mels} mel bins")
        self.branches = nn.ModuleList(_ConvBN(2, 1, f, (h, w), pad=(*_same_pad(w), 0, 0)) for h, w, f in shapes)
        self.out_channels = [f for _, _, f in shapes]

    def forward(self, x):
        return [b(x).amax(dim=2) for b in self.branches]


class Horizontal(nn.Module):
    """Temporal front-end: the spectrogram averaged over frequency, then parallel 1-D convs of
    the given lengths (frames, 'same' padding). ``shapes`` is a list of ``(length, filters)``."""

    def __init__(self, shapes: list[tuple[int, int]]):
        super().__init__()
        self.branches = nn.ModuleList(_ConvBN(1, 1, f, k, pad=_same_pad(k)) for k, f in shapes)
        self.out_channels = [f for _, f in shapes]

    def forward(self, x):
        x = x.mean(dim=2)  # (batch, 1, frames)
        return [b(x) for b in self.branches]


class Concat(nn.Module):
    def __init__(self, *parts: nn.Module):
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.out_channels = [c for p in parts for c in p.out_channels]

    def forward(self, x):
        return [m for p in self.parts for m in p(x)]


# --------------------------------------------------------------------------------------------


class PonsModel(AudioModel):
    """A front-end ``body`` (waveform or log-mel input) + a linear head on the pooled maps.

    ``features(waveform)`` returns the list of feature maps ``(batch, C_i, ...)``; ``forward``
    averages each over time (and frequency, for 2-D maps), concatenates them into the
    ``(batch, sum C_i)`` embedding and applies the linear classifier ``fc``.
    """

    def __init__(
        self,
        info: ModelInfo,
        body: nn.Module,
        num_classes: int = 527,
        spectrogram: bool = False,
        sample_rate: int = 16000,
        n_fft: int = 512,
        hop_length: int = 256,
        n_mels: int = 96,
        f_min: float = 0.0,
        f_max: float | None = None,
        min_samples: int = 0,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.spectrogram = spectrogram
        if spectrogram:
            self.logmel_extractor = LogMel(sample_rate, n_fft, hop_length, n_mels, f_min, f_max, amin=1e-4)
            self.bn0 = nn.BatchNorm2d(1)
            init_bn(self.bn0)
            min_samples = max(min_samples, n_fft // 2 + 1)  # reflect padding of the centred STFT
        self.body = body
        dim = sum(body.out_channels)
        self.dropout = dropout
        self.fc = nn.Linear(dim, num_classes)
        he_init_(self)
        nn.init.xavier_uniform_(self.fc.weight)
        last = [n for n, m in self.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))][-1]
        self.info = ModelInfo(
            **{
                **info.to_dict(),
                "sample_rate": sample_rate,
                "classifier": "fc",
                "min_samples": min_samples,
                "gradcam_layer": last,
                "embedding_dim": dim,
                "input": "log-mel" if spectrogram else "waveform",
            }
        )

    def representation(self, waveform: torch.Tensor) -> torch.Tensor:
        """The body's input: ``(batch, 1, mels, frames)`` compressed log-mel, or ``(batch, 1, samples)``."""
        waveform = self.check_input(waveform)
        if not self.spectrogram:
            return waveform[:, None]
        x = (self.logmel_extractor(waveform) + 40.0) / 10.0  # ~ log10(1 + 1e4 * mel)
        return self.bn0(x.transpose(1, 2)[:, None])

    def features(self, waveform: torch.Tensor) -> list[torch.Tensor]:
        """Every feature map of the front-end, ``(batch, C_i, frames_i)`` or ``(batch, C_i, F_i, frames_i)``."""
        return self.body(self.representation(waveform))

    def forward_features(self, waveform: torch.Tensor) -> torch.Tensor:
        maps = self.features(waveform)
        return torch.cat([m.flatten(2).mean(dim=2) for m in maps], dim=1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(F.dropout(features, self.dropout, self.training))

    def forward(self, waveform: torch.Tensor) -> dict[str, torch.Tensor]:
        emb = self.forward_features(waveform)
        return {"logits": self.forward_head(emb), "embedding": emb}


def _model(name: str, body: nn.Module, spectrogram: bool, **kwargs) -> PonsModel:
    info = ModelInfo(name=name, input="", sample_rate=0, reference=_REF)
    return PonsModel(info, body, spectrogram=spectrogram, **kwargs)


def _n_mels(kwargs) -> int:
    return int(kwargs.get("n_mels", 96))


# ---- waveform -------------------------------------------------------------------------------


@register_model
def pons_sample_level(dim: int = DEFAULT_DIM, width: int | None = None, layers: int = 7, **kwargs) -> PonsModel:
    """Sample-level waveform front-end (Lee et al. 2017): a 3-sample conv with stride 3, then
    ``layers - 1`` x (3-sample conv, max-pool 3); 7 layers.

    Input: 16 kHz waveform, at least ``3^layers`` = 2,187 samples (0.14 s). Embedding:
    ``layers * width``, width = ``dim // layers`` (512 -> 3,584 by default).
    """
    width = width or max(1, dim // layers)
    return _model("pons_sample_level", SampleLevel(width, layers), False, min_samples=3**layers, **kwargs)


@register_model
def pons_frame_level(dim: int = DEFAULT_DIM, filters: int | None = None, backend_width: int | None = None, **kwargs) -> PonsModel:
    """Frame-level waveform front-end: one bank of 512-sample filters with a 32-sample stride
    (2 ms at 16 kHz), then the 3-layer back-end (7-frame convs, residual, max-pool 2) that makes
    it as deep as the sample-level model.

    Input: 16 kHz waveform, at least 512 samples. Embedding: ``filters + 3 * backend_width``;
    by default backend_width = ``dim // 7`` (512), filters = the rest (2,048) -> 3,584.
    """
    backend_width = backend_width or max(1, dim // 7)
    filters = filters or max(1, dim - 3 * backend_width)
    return _model("pons_frame_level", FrameLevel((512,), filters, backend_width), False, min_samples=512, **kwargs)


@register_model
def pons_frame_level_many(dim: int = DEFAULT_DIM, filters: int | None = None, backend_width: int | None = None, **kwargs) -> PonsModel:
    """Frame-level front-end with many filter lengths: parallel banks of 512, 256, 128, 64 and
    32-sample filters, stride 32, concatenated, then the same back-end as :func:`pons_frame_level`.

    Input: 16 kHz waveform, at least 512 samples. Embedding: ``5 * filters + 3 * backend_width``;
    by default 5 x 409 + 3 x 512 = 3,581.
    """
    backend_width = backend_width or max(1, dim // 7)
    filters = filters or max(1, (dim - 3 * backend_width) // 5)
    body = FrameLevel((512, 256, 128, 64, 32), filters, backend_width)
    return _model("pons_frame_level_many", body, False, min_samples=512, **kwargs)


# ---- spectrogram ----------------------------------------------------------------------------


@register_model
def pons_vgg(dim: int = DEFAULT_DIM, width: int | None = None, layers: int = 5, **kwargs) -> PonsModel:
    """VGG-like spectrogram front-end: 5 x (3x3 conv, 2x2 max-pool) on the log-mel.

    Input: 16 kHz, log-mel n_fft 512 / hop 256 / 96 bins. Embedding ``layers * width``, width =
    ``dim // layers`` (716 -> 3,580 by default).
    """
    width = width or max(1, dim // layers)
    return _model("pons_vgg", VGG(width, layers), True, **kwargs)


@register_model
def pons_7x96(dim: int = DEFAULT_DIM, filters: int | None = None, **kwargs) -> PonsModel:
    """One layer of 7-frame x all-mel-bins filters (7x96 with the default 96 bins).

    Input: 16 kHz, log-mel n_fft 512 / hop 256 / 96 bins. Embedding ``filters`` (= ``dim``, 3,584).
    """
    n = _n_mels(kwargs)
    return _model("pons_7x96", Vertical([(n, 7, filters or dim)], n), True, **kwargs)


@register_model
def pons_7x86(dim: int = DEFAULT_DIM, filters: int | None = None, **kwargs) -> PonsModel:
    """One layer of 7-frame x 90%-of-the-mel-bins filters (7x86 with 96 bins), max-pooled over
    frequency (so it is pitch-shift tolerant).

    Input: 16 kHz, log-mel n_fft 512 / hop 256 / 96 bins. Embedding ``filters`` (= ``dim``, 3,584).
    """
    n = _n_mels(kwargs)
    return _model("pons_7x86", Vertical([(int(0.9 * n), 7, filters or dim)], n), True, **kwargs)


def _timbral_shapes(n_mels: int, f: int) -> list[tuple[int, int, int]]:
    hi, lo = int(0.9 * n_mels), int(0.4 * n_mels)
    return [(hi, 7, f), (hi, 3, 2 * f), (hi, 1, 4 * f), (lo, 7, f), (lo, 3, 2 * f), (lo, 1, 4 * f)]


def _temporal_shapes(f: int) -> list[tuple[int, int]]:
    r = f // 4  # as in the study: a few filters fewer so timbral and temporal parts match in size
    return [(165, f - r), (128, 2 * f - r), (64, 4 * f - r), (32, 8 * f - r)]


@register_model
def pons_timbral(dim: int = DEFAULT_DIM, filters: int | None = None, **kwargs) -> PonsModel:
    """Timbral (vertical) filters of several shapes: 7x86, 3x86, 1x86, 7x38, 3x38, 1x38 (frames x
    mel bins for 96 bins, i.e. 90% and 40% of the bins) with f, 2f, 4f filters each, max-pooled
    over frequency.

    Input: 16 kHz, log-mel n_fft 512 / hop 256 / 96 bins. Embedding ``14 f``, f = ``dim // 14``
    (256 -> 3,584).
    """
    n = _n_mels(kwargs)
    f = filters or max(4, dim // 14)
    return _model("pons_timbral", Vertical(_timbral_shapes(n, f), n), True, **kwargs)


@register_model
def pons_temporal(dim: int = DEFAULT_DIM, filters: int | None = None, **kwargs) -> PonsModel:
    """Temporal (horizontal) filters of 165, 128, 64 and 32 frames on the frequency-averaged
    log-mel, with f - f/4, 2f - f/4, 4f - f/4 and 8f - f/4 filters.

    Input: 16 kHz, log-mel n_fft 512 / hop 256 / 96 bins. Embedding ``14 f``, f = ``dim // 14``
    (256 -> 3,584).
    """
    f = filters or max(4, dim // 14)
    return _model("pons_temporal", Horizontal(_temporal_shapes(f)), True, **kwargs)


@register_model
def pons_timbral_temporal(dim: int = DEFAULT_DIM, filters: int | None = None, **kwargs) -> PonsModel:
    """:func:`pons_timbral` and :func:`pons_temporal` side by side (the musically motivated
    front-end of Pons et al.), each with f filters.

    Input: 16 kHz, log-mel n_fft 512 / hop 256 / 96 bins. Embedding ``28 f``, f = ``dim // 28``
    (128 -> 3,584).
    """
    n = _n_mels(kwargs)
    f = filters or max(4, dim // 28)
    body = Concat(Vertical(_timbral_shapes(n, f), n), Horizontal(_temporal_shapes(f)))
    return _model("pons_timbral_temporal", body, True, **kwargs)


@register_model
def test_pons(dim: int = 28, **kwargs) -> PonsModel:
    """Test-size timbral + temporal front-end (4 filters per shape, 112 dims) on a 32-bin log-mel."""
    kwargs.setdefault("n_mels", 32)
    n = kwargs["n_mels"]
    f = max(4, dim // 28)
    body = Concat(Vertical(_timbral_shapes(n, f), n), Horizontal(_temporal_shapes(f)))
    return _model("test_pons", body, True, **kwargs)


@register_model
def test_pons_wave(dim: int = 21, **kwargs) -> PonsModel:
    """Test-size sample-level waveform front-end (7 layers of 3 channels)."""
    return _model("test_pons_wave", SampleLevel(max(1, dim // 7), 7), False, min_samples=3**7, **kwargs)
