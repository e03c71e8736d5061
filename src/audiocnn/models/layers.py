"""Building blocks shared by the model families.

Attribute names (``conv1``, ``bn1``, ``att``, ``cla`` ...) follow the original PANNs code so that
its checkpoints load by name.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from audiocnn.features.augment import MixPlan, SpecAugment
from audiocnn.features.spectrogram import LogMel
from audiocnn.models.base import AudioModel, ModelInfo, init_bn, init_layer

__all__ = [
    "PANNS_FRONTENDS",
    "AttBlock",
    "logmel_clip_info",
    "logmel_min_samples",
    "panns_frontend_settings",
    "ConvBlock",
    "PannsClipHead",
    "PannsLogMelModel",
    "panns_clip_head",
    "avg_pool_2x2",
    "pool2d",
    "repeat_frames",
    "residual_out",
    "time_pool_max_mean",
]

# PANNs front-end settings per sample rate: (n_fft = window, hop, mel bins, fmin, fmax).
# 10 ms hop at every rate, so every model has 100 frames per second.
PANNS_FRONTENDS: dict[int, tuple[int, int, int, float, float]] = {
    32000: (1024, 320, 64, 50.0, 14000.0),
    16000: (512, 160, 64, 50.0, 8000.0),
    8000: (256, 80, 64, 50.0, 4000.0),
}


def logmel_min_samples(sample_rate: int, time_ratio: int, n_fft: int | None = None, hop: int | None = None) -> int:
    """Shortest input (samples) a PANNs log-mel model accepts: enough frames to survive a time
    pooling of ``time_ratio`` in total, and more than ``n_fft / 2`` for the reflect padding
    (``n_fft`` and ``hop`` default to the PANNs settings of ``sample_rate``)."""
    if n_fft is None or hop is None:
        n_fft, hop = PANNS_FRONTENDS[sample_rate][:2]
    return max((time_ratio - 1) * hop, n_fft // 2 + 1)


def logmel_clip_info(info: ModelInfo, sample_rate: int, time_ratio: int, **fields) -> ModelInfo:
    """``info`` of a clip-level PANNs log-mel model: log-mel input at ``sample_rate`` Hz, the
    ``fc_audioset`` classifier, the shortest input for a time pooling of ``time_ratio``
    (:func:`logmel_min_samples`), and ``fields`` (Grad-CAM layer, embedding size ...)."""
    return dataclasses.replace(info, input="log-mel", sample_rate=sample_rate, frame_level=False, classifier="fc_audioset",
                               min_samples=logmel_min_samples(sample_rate, time_ratio), **fields)


def residual_out(branch: torch.Tensor, x: torch.Tensor, conv: nn.Module, bn: nn.Module, downsample: nn.Module | None,
                 dropout: float, training: bool) -> torch.Tensor:
    """The end of a PANNs residual block (1-D or 2-D): ``relu(bn(conv(dropout(branch))) + shortcut)``,
    the shortcut being the block's input ``x``, or ``downsample(x)`` when the shape changes."""
    out = bn(conv(F.dropout(branch, p=dropout, training=training)))
    return F.relu(out + (x if downsample is None else downsample(x)))


def panns_frontend_settings(
    sample_rate: int,
    window_size: int | None = None,
    hop_size: int | None = None,
    n_mels: int | None = None,
    fmin: float | None = None,
    fmax: float | None = None,
) -> tuple[int, int, int, float, float]:
    """``(window = n_fft, hop, mel bins, fmin, fmax)``: the PANNs settings of ``sample_rate``, each
    replaced by the value given. A rate without PANNs settings needs ``window_size``,
    ``hop_size`` and ``fmax``; the frame rate is ``sample_rate / hop_size`` frames per second."""
    base = PANNS_FRONTENDS.get(sample_rate)
    if base is None:
        if None in (window_size, hop_size, fmax):
            raise ValueError(f"PANNs front-ends exist for {sorted(PANNS_FRONTENDS)} Hz; at {sample_rate} Hz give "
                             "window_size, hop_size and fmax too")
        base = (window_size, hop_size, 64, 50.0, fmax)
    n_fft, hop, mels, lo, hi = (b if g is None else g for b, g in zip(base, (window_size, hop_size, n_mels, fmin, fmax)))
    if n_fft < 16 or not 1 <= hop <= n_fft:
        raise ValueError(f"window_size must be >= 16 samples and hop_size in [1, window_size], got {n_fft} and {hop}")
    if mels < 8:
        raise ValueError(f"n_mels must be >= 8, got {mels}")
    if not 0 <= lo < hi <= sample_rate / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= {sample_rate / 2:g} Hz (Nyquist), got fmin={lo:g}, fmax={hi:g}")
    return int(n_fft), int(hop), int(mels), float(lo), float(hi)


def _mean_2x2(x: torch.Tensor) -> torch.Tensor:
    """The mean of each 2x2 cell of a 4-D map of even height and width, as ``F.avg_pool2d``
    computes it: float32 and float64 summed in its order; bfloat16 and float16 summed in
    float32 and rounded once. The float32 sum of four bfloat16 (float16) values is exact unless
    they differ in magnitude by more than 2**16 (2**13), so the order does not change the bits."""
    if x.dtype in (torch.bfloat16, torch.float16):
        rows = x[:, :, 0::2].float() + x[:, :, 1::2]
        return ((rows[..., 0::2] + rows[..., 1::2]) * 0.25).to(x.dtype)
    return (x[:, :, 0::2, 0::2] + x[:, :, 0::2, 1::2] + x[:, :, 1::2, 0::2] + x[:, :, 1::2, 1::2]) * 0.25


class _AvgPool2x2(torch.autograd.Function):
    """``F.avg_pool2d(x, 2)`` with a backward pass that writes each input gradient once (a
    quarter of the output gradient, repeated 2x2 by nearest-neighbour upsampling) instead of
    scattering into zeros: the same values, two to three times as fast on the CPU for the large
    early feature maps of training."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.in_shape = x.shape
        h, w = x.shape[2] // 2, x.shape[3] // 2
        return _mean_2x2(x[:, :, : 2 * h, : 2 * w])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        height, width = ctx.in_shape[2:]
        h, w = height // 2, width // 2
        g = F.interpolate(grad * 0.25, scale_factor=2, mode="nearest")
        if (height, width) != (2 * h, 2 * w):  # rows and columns the pooling dropped get no gradient
            g = F.pad(g, (0, width - 2 * w, 0, height - 2 * h))
        return g


def avg_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.avg_pool2d(x, 2)`` of a ``(batch, channels, height, width)`` map (an odd last row or
    column is dropped), with a faster backward pass when ``x`` needs a gradient. Without one
    (inference, export) this is ``F.avg_pool2d`` itself, so exported graphs are unchanged."""
    if x.dim() == 4 and x.requires_grad and torch.is_grad_enabled() and not torch.compiler.is_exporting() \
            and min(x.shape[2], x.shape[3]) >= 2:
        return _AvgPool2x2.apply(x)
    return F.avg_pool2d(x, kernel_size=2)


def _avg_pool(x: torch.Tensor, pool_size: tuple[int, int]) -> torch.Tensor:
    size = (pool_size, pool_size) if isinstance(pool_size, int) else tuple(pool_size)
    if size == (2, 2):
        return avg_pool_2x2(x)
    return F.avg_pool2d(x, kernel_size=pool_size)


def pool2d(x: torch.Tensor, pool_size: tuple[int, int], pool_type: str) -> torch.Tensor:
    if pool_type == "avg":
        return _avg_pool(x, pool_size)
    if pool_type == "max":
        return F.max_pool2d(x, kernel_size=pool_size)
    if pool_type == "avg+max":
        return _avg_pool(x, pool_size) + F.max_pool2d(x, kernel_size=pool_size)
    raise ValueError(f"pool_type must be 'avg', 'max' or 'avg+max', got {pool_type!r}")


class ConvBlock(nn.Module):
    """(conv-bn-relu) x ``num_convs`` then 2-D pooling; the PANNs ``ConvBlock`` (two 3x3) and
    ``ConvBlock5x5`` (one 5x5)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, num_convs: int = 2):
        super().__init__()
        self.num_convs = num_convs
        for i in range(1, num_convs + 1):
            conv = nn.Conv2d(
                in_channels if i == 1 else out_channels,
                out_channels,
                kernel_size=kernel_size,
                padding=kernel_size // 2,
                bias=False,
            )
            bn = nn.BatchNorm2d(out_channels)
            init_layer(conv)
            init_bn(bn)
            setattr(self, f"conv{i}", conv)
            setattr(self, f"bn{i}", bn)

    def forward(self, x: torch.Tensor, pool_size=(2, 2), pool_type: str = "avg") -> torch.Tensor:
        for i in range(1, self.num_convs + 1):
            x = F.relu_(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
        return pool2d(x, pool_size, pool_type)


class AttBlock(nn.Module):
    """Attention pooling over time (PANNs ``AttBlock``): ``(batch, channels, time)`` ->
    clip probability ``sum_t softmax(att)_t * sigmoid(cla)_t``.

    Returns ``(clip_logits, frame_logits)`` where ``clip_logits = logit(clip probability)`` and
    ``frame_logits`` is ``cla(x)`` transposed to ``(batch, time, classes)``. ``bn_att`` is kept
    only because the released checkpoints store it (the original never calls it).
    """

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.att = nn.Conv1d(n_in, n_out, kernel_size=1, bias=True)
        self.cla = nn.Conv1d(n_in, n_out, kernel_size=1, bias=True)
        self.bn_att = nn.BatchNorm1d(n_out)
        init_layer(self.att)
        init_layer(self.cla)
        init_bn(self.bn_att)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        norm_att = torch.softmax(torch.clamp(self.att(x), -10, 10), dim=-1)
        cla = self.cla(x)
        clip_prob = torch.sum(norm_att * torch.sigmoid(cla), dim=2)
        return prob_to_logit(clip_prob), cla.transpose(1, 2)


def prob_to_logit(p: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Inverse sigmoid, clamped so that probabilities of exactly 0 or 1 stay finite."""
    p = p.clamp(eps, 1 - eps)
    return torch.log(p) - torch.log1p(-p)


def time_pool_max_mean(x: torch.Tensor) -> torch.Tensor:
    """``(batch, channels, time)`` -> ``(batch, channels)``: max over time plus mean over time."""
    return x.amax(dim=2) + x.mean(dim=2)


def panns_clip_head(
    x: torch.Tensor, fc1: nn.Linear, classifier: nn.Linear, dropout: float, training: bool
) -> dict[str, torch.Tensor]:
    """The PANNs clip head on a feature sequence ``(batch, channels, time)``.

    max + mean over time, dropout, ``relu(fc1)``; as in PANNs the embedding is the dropped-out
    hidden vector while the classifier reads the undropped one.
    """
    x = F.dropout(time_pool_max_mean(x), p=dropout, training=training)
    x = F.relu_(fc1(x))
    return {"logits": classifier(x), "embedding": F.dropout(x, p=dropout, training=training)}


class PannsClipHead:
    """Mixin for clip-level models whose ``forward`` ends in ``fc1`` and the ``fc_audioset``
    classifier: the uniform ``forward_features`` / ``forward_head`` pair."""

    def forward_features(self, waveform: torch.Tensor) -> torch.Tensor:
        """Pooled pre-logits embedding ``(batch, embedding_dim)`` (dropped out in training)."""
        return self.forward(waveform)["embedding"]

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Clip logits ``(batch, classes)`` from :meth:`forward_features` output."""
        return self.fc_audioset(features)


def repeat_frames(x: torch.Tensor, ratio: int, frames: int) -> torch.Tensor:
    """Nearest-neighbour upsampling of ``(batch, time, classes)`` by ``ratio``, then padding to
    ``frames`` by repeating the last frame (PANNs ``interpolate`` + ``pad_framewise_output``)."""
    batch, time, classes = x.shape
    x = x[:, :, None, :].expand(batch, time, ratio, classes).reshape(batch, time * ratio, classes)
    if frames > x.shape[1]:
        x = torch.cat([x, x[:, -1:, :].expand(batch, frames - x.shape[1], classes)], dim=1)
    return x[:, :frames]


class PannsLogMelModel(AudioModel):
    """Base for the PANNs models with a log-mel input: owns ``logmel_extractor``, ``bn0`` and
    ``spec_augmenter`` under the original attribute names."""

    def _init_frontend(
        self,
        sample_rate: int,
        spec_augment: bool = True,
        n_mels: int | None = None,
        window_size: int | None = None,
        hop_size: int | None = None,
        fmin: float | None = None,
        fmax: float | None = None,
    ) -> None:
        """The PANNs front-end of ``sample_rate`` (window, hop, mel range, 64 mel bins), each
        setting replaceable (:func:`panns_frontend_settings`; the paper's ablations use 32 and
        128 bins)."""
        n_fft, hop, n_mels, fmin, fmax = panns_frontend_settings(sample_rate, window_size, hop_size, n_mels, fmin, fmax)
        self.logmel_extractor = LogMel(sample_rate, n_fft, hop, n_mels, fmin, fmax)
        # PANNs drops two frequency stripes of up to n_mels / 8 bins: 8 of 64, 4 of 32, 16 of 128
        self.spec_augmenter = SpecAugment(64, 2, n_mels // 8, 2) if spec_augment else nn.Identity()
        self.bn0 = nn.BatchNorm2d(n_mels)
        init_bn(self.bn0)

    def frontend(self, waveform: torch.Tensor, mixup: MixPlan | None = None) -> torch.Tensor:
        """``(batch, samples)`` -> normalised log-mel ``(batch, 1, frames, mel_bins)``; SpecAugment
        in training mode, then ``mixup`` (a :class:`~audiocnn.features.augment.MixPlan`) when
        given: the log-mel mixup of PANNs."""
        x = self.logmel_extractor(self.check_input(waveform))[:, None]
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        x = self.spec_augmenter(x)
        return x if mixup is None else mixup(x)
