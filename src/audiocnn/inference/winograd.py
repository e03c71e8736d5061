"""Winograd F(2x2, 3x3) convolution for the bf16 path.

A 3x3 convolution (stride 1, padding 1) computed on 4x4 input tiles that give 2x2 output tiles
(Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016): each tile needs
16 products per input/output channel pair instead of 36, so the channel-mixing work -- 16
batched matrix products, run in bfloat16 -- is 2.25x smaller than a direct convolution's. The
input and output transforms only add and subtract (in float32) and cost memory traffic
proportional to the activations, so the method pays where activations are small and channels
many (Cnn14's last blocks) and loses where maps are large (its first blocks): per-layer timings
from ``benchmarks/winograd_layers.py`` are in docs/results.md. :func:`use_winograd` therefore
converts only convolutions with at least ``min_out_channels`` outputs.

Numerics: the float32 transforms are exact up to float32 rounding; the weights are transformed
in float64 and rounded to bfloat16 once, so the error is of the order of a direct bf16
convolution's (per-layer and end-to-end figures: docs/results.md,
``benchmarks/precision_trained_agreement.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audiocnn.models.layers import ConvBlock

__all__ = ["WinogradConv2d", "use_winograd", "winograd_conv3x3", "winograd_weight"]

# F(2x2, 3x3) transform matrices (Lavin & Gray 2016): Y = A^T [(G g G^T) * (B^T d B)] A
_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))


def winograd_weight(weight: torch.Tensor, dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    """``(out, in, 3, 3)`` conv weight -> ``(16, in, out)`` transformed weight ``G g G^T`` (computed
    in float64, stored in ``dtype``), one ``(in, out)`` matrix per tile position."""
    if weight.dim() != 4 or weight.shape[-2:] != (3, 3):
        raise ValueError(f"winograd_weight needs a (out, in, 3, 3) weight, got {tuple(weight.shape)}")
    g = torch.tensor(_G, dtype=torch.float64)
    u = torch.einsum("ij,ocjk,lk->ilco", g, weight.detach().double(), g)  # (4, 4, in, out)
    return u.reshape(16, weight.shape[1], weight.shape[0]).to(dtype).contiguous()


def _rows(t0, t1, t2, t3):
    """``B^T`` applied along one axis: the four combinations of four tile rows/columns."""
    return t0 - t2, t1 + t2, t2 - t1, t1 - t3


def winograd_conv3x3(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """3x3 convolution, stride 1, padding 1, of ``x (batch, in, H, W)`` with a weight transformed by
    :func:`winograd_weight` (``u (16, in, out)``); returns float32 ``(batch, out, H, W)``, laid out
    channels-last. The products run in ``u``'s dtype, the transforms in float32."""
    n, c, h, w = x.shape
    if u.shape[1] != c:
        raise ValueError(f"input has {c} channels, the weight expects {u.shape[1]}")
    th, tw = (h + 1) // 2, (w + 1) // 2
    xh = x.permute(0, 2, 3, 1)  # (n, h, w, c); a view when x is channels-last
    xh = F.pad(xh.float(), (0, 0, 1, 1 + 2 * tw - w, 1, 1 + 2 * th - h))  # (n, 2th + 2, 2tw + 2, c)
    # B^T along the height on the untiled map: tile i covers padded rows 2i .. 2i + 3, i.e. the
    # even rows i, i + 1 and the odd rows i, i + 1
    ev, od = xh[:, 0::2], xh[:, 1::2]  # (n, th + 1, 2tw + 2, c) each
    rows = _rows(ev[:, :th], od[:, :th], ev[:, 1:], od[:, 1:])  # 4 x (n, th, 2tw + 2, c)
    v = torch.empty(16, n, th, tw, c, dtype=u.dtype, device=x.device)
    for i, r in enumerate(rows):  # ... then B along the width, written straight into v
        ev, od = r[:, :, 0::2], r[:, :, 1::2]
        a0, a1, b0, b1 = ev[:, :, :tw], od[:, :, :tw], ev[:, :, 1:], od[:, :, 1:]
        torch.sub(a0, b0, out=v[4 * i])
        torch.add(a1, b0, out=v[4 * i + 1])
        torch.sub(b0, a1, out=v[4 * i + 2])
        torch.sub(a1, b1, out=v[4 * i + 3])
    out = u.shape[2]
    with torch.autocast(x.device.type, enabled=False):  # products in u's dtype, whatever autocast says
        m = torch.bmm(v.view(16, -1, c), u).view(4, 4, n, th, tw, out)
    y = torch.empty(n, th, 2, tw, 2, out, dtype=torch.float32, device=x.device)
    s = (m[0].float() + m[1] + m[2], m[1].float() - m[2] - m[3])  # A^T m ...
    for a in range(2):  # ... A
        torch.add(s[a][0] + s[a][1], s[a][2], out=y[:, :, a, :, 0])
        torch.sub(s[a][1] - s[a][2], s[a][3], out=y[:, :, a, :, 1])
    y = y.view(n, 2 * th, 2 * tw, out)[:, :h, :w]
    if bias is not None:
        y = y + bias
    return y.permute(0, 3, 1, 2)


class WinogradConv2d(nn.Module):
    """Inference-only replacement for a 3x3, stride-1, padding-1, ungrouped ``nn.Conv2d``
    (:func:`winograd_conv3x3`, products in ``dtype``)."""

    def __init__(self, conv: nn.Conv2d, dtype: torch.dtype = torch.bfloat16):
        super().__init__()
        if not is_winograd_compatible(conv):
            raise ValueError(f"not a 3x3 / stride 1 / padding 1 / ungrouped convolution: {conv}")
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.register_buffer("u", winograd_weight(conv.weight, dtype))
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return winograd_conv3x3(x, self.u, self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size=(3, 3), dtype={self.u.dtype}"


def is_winograd_compatible(conv: nn.Module) -> bool:
    return (
        isinstance(conv, nn.Conv2d)
        and conv.kernel_size == (3, 3)
        and conv.stride == (1, 1)
        and conv.padding == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
    )


DEFAULT_MIN_OUT_CHANNELS = 512
"""Convolutions with fewer outputs keep oneDNN's direct kernel (see the module docstring)."""


def use_winograd(model: nn.Module, min_out_channels: int | None = None, dtype: torch.dtype = torch.bfloat16) -> int:
    """In place: every 3x3 convolution of a :class:`ConvBlock` with at least ``min_out_channels``
    (default :data:`DEFAULT_MIN_OUT_CHANNELS`) outputs becomes a :class:`WinogradConv2d` (its
    BatchNorm folded in first). The model must be in eval mode and no longer loads checkpoints
    afterwards. Returns the number converted."""
    from audiocnn.inference.quantize import folded_conv

    if model.training:
        raise ValueError("use_winograd needs a model in eval mode (BatchNorm is folded)")
    if min_out_channels is None:
        min_out_channels = DEFAULT_MIN_OUT_CHANNELS
    n = 0
    for block in model.modules():
        if not isinstance(block, ConvBlock):
            continue
        for i in range(1, block.num_convs + 1):
            conv = getattr(block, f"conv{i}")
            if not is_winograd_compatible(conv) or conv.out_channels < min_out_channels:
                continue
            setattr(block, f"conv{i}", WinogradConv2d(folded_conv(block, i), dtype))
            setattr(block, f"bn{i}", nn.Identity())
            n += 1
    return n
