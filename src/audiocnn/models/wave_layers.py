"""1-D building blocks of the PANNs waveform models (LeeNet, DaiNet, Res1dNet, Wavegram).

Attribute names (``conv1``, ``bn1``, ``downsample``, ``bn_downsample`` ...) follow the original
PANNs code so that its checkpoints load by name. All tensors are ``(batch, channels, time)``.

Also holds the length arithmetic the waveform models use to state their shortest accepted
input and their receptive field: each model lists the convolutions and poolings along its time
axis as :data:`TimeOp` tuples (``time_ops()``), from which :func:`ops_output_length` and
:func:`ops_receptive_field` follow. Their clip head is :func:`audiocnn.models.layers.panns_clip_head`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from audiocnn.models.base import init_bn, init_layer, max_pool1d
from audiocnn.models.layers import residual_out

__all__ = [
    "Conv1dBlock",
    "DilatedConvBlock1d",
    "ResBasicBlock1d",
    "ResidualConvBlock1d",
    "TimeOp",
    "conv_op",
    "conv_out_len",
    "ops_output_length",
    "ops_receptive_field",
    "pool_op",
    "pool_out_len",
    "shortest_valid_length",
]


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, dilation: int = 1):
    """A bias-free 'same'-padded conv (for stride 1) and its BatchNorm, PANNs-initialised."""
    conv = nn.Conv1d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=dilation * (kernel_size // 2),
        dilation=dilation,
        bias=False,
    )
    bn = nn.BatchNorm1d(out_channels)
    init_layer(conv)
    init_bn(bn)
    return conv, bn


class Conv1dBlock(nn.Module):
    """``num_convs`` x (conv-bn-relu); only the first conv is strided.

    The PANNs ``LeeNetConvBlock`` (one conv) and ``LeeNetConvBlock2`` (two convs). Pooling is
    left to the caller.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, num_convs: int = 1):
        super().__init__()
        self.num_convs = num_convs
        for i in range(1, num_convs + 1):
            conv, bn = _conv_bn(in_channels if i == 1 else out_channels, out_channels, kernel_size, stride if i == 1 else 1)
            setattr(self, f"conv{i}", conv)
            setattr(self, f"bn{i}", bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, self.num_convs + 1):
            x = F.relu_(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
        return x


class ResidualConvBlock1d(nn.Module):
    """``num_convs`` stride-1 convs with a residual connection (PANNs ``DaiNetResBlock``).

    The shortcut is the identity when the channel count is kept, else a 1x1 conv + BN
    (``downsample``/``bn_downsample``). The shortcut layers exist in every block, as in the
    released checkpoints, although blocks that keep the channel count never use them. The last
    BN starts at zero gain so that each block starts as (almost) the identity.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, num_convs: int = 4):
        super().__init__()
        self.num_convs = num_convs
        self.identity_shortcut = in_channels == out_channels
        for i in range(1, num_convs + 1):
            conv, bn = _conv_bn(in_channels if i == 1 else out_channels, out_channels, kernel_size)
            setattr(self, f"conv{i}", conv)
            setattr(self, f"bn{i}", bn)
        nn.init.zeros_(getattr(self, f"bn{num_convs}").weight)
        self.downsample, self.bn_downsample = _conv_bn(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for i in range(1, self.num_convs + 1):
            out = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(out))
            if i < self.num_convs:
                out = F.relu_(out)
        shortcut = x if self.identity_shortcut else self.bn_downsample(self.downsample(x))
        return F.relu_(out + shortcut)


class ResBasicBlock1d(nn.Module):
    """Res1dNet basic block: [max-pool by ``stride``] conv3 - bn - relu - dropout - conv3
    (dilation 2) - bn, plus the shortcut, then relu.

    The shortcut is the identity, or ``downsample`` = [avg-pool by ``stride``] + 1x1 conv + BN
    when the stride or the channel count changes (an ``nn.Sequential`` so that its keys,
    ``downsample.1.weight`` ..., equal the original ones).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dropout: float = 0.1):
        super().__init__()
        self.stride, self.dropout = stride, dropout
        self.conv1, self.bn1 = _conv_bn(in_channels, out_channels, 3)
        self.conv2, self.bn2 = _conv_bn(out_channels, out_channels, 3, dilation=2)
        nn.init.zeros_(self.bn2.weight)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            conv, bn = _conv_bn(in_channels, out_channels, 1)
            layers = ([nn.AvgPool1d(stride)] if stride != 1 else []) + [conv, bn]
            self.downsample = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = max_pool1d(x, self.stride) if self.stride != 1 else x
        out = F.relu_(self.bn1(self.conv1(out)))
        return residual_out(out, x, self.conv2, self.bn2, self.downsample, self.dropout, self.training)


class DilatedConvBlock1d(nn.Module):
    """conv3 - bn - relu - conv3 (dilation 2) - bn - relu, then max-pooling by ``pool_size``
    (PANNs ``ConvPreWavBlock``, the learnt front-end of the Wavegram models)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(in_channels, out_channels, 3)
        self.conv2, self.bn2 = _conv_bn(out_channels, out_channels, 3, dilation=2)

    def forward(self, x: torch.Tensor, pool_size: int) -> torch.Tensor:
        x = F.relu_(self.bn1(self.conv1(x)))
        x = F.relu_(self.bn2(self.conv2(x)))
        return max_pool1d(x, kernel_size=pool_size)


# --------------------------------------------------------------------------------------------
# Length arithmetic (PyTorch's floor formulas)


def conv_out_len(n: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a 1-D convolution (or pooling) on ``n`` samples; < 1 means it fails."""
    span = n + 2 * padding - dilation * (kernel_size - 1) - 1
    return span // stride + 1 if span >= 0 and n > 0 else 0


def pool_out_len(n: int, kernel_size: int, padding: int = 0) -> int:
    """Output length of ``max_pool1d(kernel_size, stride=kernel_size, padding)`` on ``n`` steps."""
    return conv_out_len(n, kernel_size, kernel_size, padding)


# One step along the time axis: (kernel_size, stride, padding, dilation) of a conv or a pooling.
TimeOp = tuple[int, int, int, int]


def conv_op(kernel_size: int, stride: int = 1, padding: int | None = None, dilation: int = 1) -> TimeOp:
    """A conv along time; ``padding`` defaults to 'same' (``dilation * (kernel_size // 2)``)."""
    return (kernel_size, stride, dilation * (kernel_size // 2) if padding is None else padding, dilation)


def pool_op(size: int, padding: int = 0) -> TimeOp:
    return (size, size, padding, 1)


def ops_output_length(ops: list[TimeOp], n: int) -> int:
    """Time steps after applying ``ops`` to ``n`` steps (< 1: the input is too short)."""
    for kernel, stride, padding, dilation in ops:
        n = conv_out_len(n, kernel, stride, padding, dilation)
    return n


def ops_receptive_field(ops: list[TimeOp]) -> tuple[int, int]:
    """``(receptive field, hop)`` in input samples of one output step of the chain ``ops``."""
    field, hop = 1, 1
    for kernel, stride, _, dilation in ops:
        field += (kernel - 1) * dilation * hop
        hop *= stride
    return field, hop


def shortest_valid_length(out_len: Callable[[int], int], upper: int = 1 << 24) -> int:
    """Smallest ``n >= 1`` with ``out_len(n) >= 1``, for a non-decreasing ``out_len``."""
    lo, hi = 1, upper
    if out_len(hi) < 1:
        raise ValueError(f"no input of up to {upper} samples survives this network")
    while lo < hi:
        mid = (lo + hi) // 2
        if out_len(mid) >= 1:
            hi = mid
        else:
            lo = mid + 1
    return lo


class TimeOpsGeometry:
    """Mixin: ``output_length`` and ``receptive_field`` of a model that lists its time-axis
    operations in ``time_ops()``."""

    def output_length(self, num_samples: int) -> int:
        """Time steps of the last feature map for an input of ``num_samples`` (< 1: too short)."""
        return ops_output_length(self.time_ops(), num_samples)

    def receptive_field(self) -> tuple[int, int]:
        """``(receptive field, hop)`` in samples of one step of the last feature map."""
        return ops_receptive_field(self.time_ops())
