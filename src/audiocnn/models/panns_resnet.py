"""PANNs ResNets on log-mel: ResNet22, ResNet38 (basic blocks) and ResNet54 (bottlenecks).

Kong et al., "PANNs: Large-Scale Pretrained Audio Neural Networks for Audio Pattern
Recognition", IEEE/ACM TASLP 2020, section III-D. The network is a PANNs ``ConvBlock`` stem,
four ResNet stages (64, 128, 256, 512 planes; stages 2-4 halve time and frequency) in which
downsampling is done by 2x2 average pooling rather than strided convolutions, a further 2x2
average pooling, a ``ConvBlock`` to 2048 channels, and the Cnn14 head (max + mean over time,
``fc1``, classifier).

One parametrised class, :class:`PannsResNet`; the registered variants only set block type and
depths. Sub-module names follow the original code (``resnet.layer2.0.downsample.1`` ...) so the
released checkpoints load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audiocnn.features.augment import MixPlan
from audiocnn.models._registry import register_model
from audiocnn.models.base import ModelInfo, init_bn, init_layer
from audiocnn.models.layers import (
    ConvBlock,
    PannsClipHead,
    PannsLogMelModel,
    avg_pool_2x2,
    logmel_clip_info,
    panns_clip_head,
    residual_out,
)

__all__ = ["BasicBlock", "Bottleneck", "PannsResNet", "ResNetStages"]

_REF = "Kong et al. 2020, PANNs (TASLP)"


def _conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False)


def _conv1x1(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=1, bias=False)


def _shortcut(cin: int, cout: int, stride: int) -> nn.Sequential:
    """Projection shortcut; with stride 2 it average-pools first (indices match the checkpoints:
    ``downsample.1`` is the conv after the pool, ``downsample.0`` without pooling)."""
    layers: list[nn.Module] = [nn.AvgPool2d(kernel_size=2)] if stride == 2 else []
    conv, bn = _conv1x1(cin, cout), nn.BatchNorm2d(cout)
    init_layer(conv)
    init_bn(bn)
    return nn.Sequential(*layers, conv, bn)


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or projected) shortcut. With ``stride == 2`` the input of
    the residual branch is 2x2 average-pooled. The last BN starts at zero (the block starts as
    the identity)."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, dropout: float = 0.1):
        super().__init__()
        self.stride, self.dropout = stride, dropout
        self.conv1, self.bn1 = _conv3x3(cin, planes), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = _conv3x3(planes, planes), nn.BatchNorm2d(planes)
        self.downsample = downsample
        for m in (self.conv1, self.conv2):
            init_layer(m)
        init_bn(self.bn1)
        init_bn(self.bn2)
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = avg_pool_2x2(x) if self.stride == 2 else x
        out = F.relu(self.bn1(self.conv1(out)))
        return residual_out(out, x, self.conv2, self.bn2, self.downsample, self.dropout, self.training)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) with a shortcut; ``stride == 2`` average-pools the input
    of the residual branch first. The last BN starts at zero."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, dropout: float = 0.1):
        super().__init__()
        self.stride, self.dropout = stride, dropout
        out = planes * self.expansion
        self.conv1, self.bn1 = _conv1x1(cin, planes), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = _conv3x3(planes, planes), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = _conv1x1(planes, out), nn.BatchNorm2d(out)
        self.downsample = downsample
        for m in (self.conv1, self.conv2, self.conv3):
            init_layer(m)
        for m in (self.bn1, self.bn2, self.bn3):
            init_bn(m)
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = avg_pool_2x2(x) if self.stride == 2 else x
        out = F.relu(self.bn1(self.conv1(out)))
        out = F.relu(self.bn2(self.conv2(out)))
        return residual_out(out, x, self.conv3, self.bn3, self.downsample, self.dropout, self.training)


class ResNetStages(nn.Module):
    """``layer1`` ... ``layerN``: stage ``i`` has ``depths[i]`` blocks of ``widths[i]`` planes; every
    stage but the first halves time and frequency."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], depths, widths, in_channels: int):
        super().__init__()
        cin = in_channels
        for i, (depth, planes) in enumerate(zip(depths, widths), start=1):
            stride = 1 if i == 1 else 2
            out = planes * block.expansion
            downsample = _shortcut(cin, out, stride) if stride != 1 or cin != out else None
            blocks = [block(cin, planes, stride, downsample)]
            blocks += [block(out, planes) for _ in range(1, depth)]
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
            cin = out
        self.num_stages = len(depths)
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{i}")(x)
        return x


class PannsResNet(PannsClipHead, PannsLogMelModel):
    """Log-mel -> ConvBlock stem -> ResNet stages -> 2x2 avg pool -> ConvBlock -> Cnn14 head.

    Args:
        block: ``"basic"`` (ResNet22/38) or ``"bottleneck"`` (ResNet54).
        depths: blocks per stage ((2, 2, 2, 2) ResNet22, (3, 4, 6, 3) ResNet38/54).
        widths: planes per stage (the stem has ``widths[0]`` channels).
        head_channels: channels of ``conv_block_after1`` and of the embedding (2048).
        sample_rate: 32000, 16000 or 8000 (the PANNs front-end of that rate).
        conv_dropout / fc_dropout: 0.2 and 0.5 as in PANNs (blocks use 0.1 inside).
    """

    def __init__(
        self,
        info: ModelInfo,
        num_classes: int = 527,
        block: str = "basic",
        depths: tuple[int, ...] = (2, 2, 2, 2),
        widths: tuple[int, ...] = (64, 128, 256, 512),
        head_channels: int = 2048,
        sample_rate: int = 32000,
        conv_dropout: float = 0.2,
        fc_dropout: float = 0.5,
        spec_augment: bool = True,
    ):
        super().__init__()
        blocks = {"basic": BasicBlock, "bottleneck": Bottleneck}
        if block not in blocks:
            raise ValueError(f"block must be 'basic' or 'bottleneck', got {block!r}")
        if len(depths) != len(widths):
            raise ValueError(f"depths {depths} and widths {widths} must have the same length")
        self._init_frontend(sample_rate, spec_augment)
        self.conv_dropout, self.fc_dropout = conv_dropout, fc_dropout
        self.conv_block1 = ConvBlock(1, widths[0])
        self.resnet = ResNetStages(blocks[block], depths, widths, widths[0])
        self.conv_block_after1 = ConvBlock(self.resnet.out_channels, head_channels)
        self.fc1 = nn.Linear(head_channels, head_channels, bias=True)
        self.fc_audioset = nn.Linear(head_channels, num_classes, bias=True)
        init_layer(self.fc1)
        init_layer(self.fc_audioset)
        # stem pool, stages 2.., pool after the stages
        self.time_ratio = 2 * 2 ** (len(depths) - 1) * 2
        self.info = logmel_clip_info(info, sample_rate, self.time_ratio, gradcam_layer="conv_block_after1.conv2", embedding_dim=head_channels)

    def forward_conv(self, waveform: torch.Tensor, mixup: MixPlan | None = None) -> torch.Tensor:
        """``(batch, samples)`` -> feature map ``(batch, head_channels, time/32, mels/32)``;
        ``mixup`` mixes the log-mel after SpecAugment (training, as PANNs)."""
        x = self.frontend(waveform, mixup)
        x = self.conv_block1(x, pool_size=(2, 2), pool_type="avg")
        x = F.dropout(x, p=self.conv_dropout, training=self.training)
        x = self.resnet(x)
        x = avg_pool_2x2(x)
        x = F.dropout(x, p=self.conv_dropout, training=self.training)
        x = self.conv_block_after1(x, pool_size=(1, 1), pool_type="avg")
        return F.dropout(x, p=self.conv_dropout, training=self.training)

    def forward(self, waveform: torch.Tensor, mixup: MixPlan | None = None) -> dict[str, torch.Tensor]:
        x = self.forward_conv(waveform, mixup).mean(dim=3)
        return panns_clip_head(x, self.fc1, self.fc_audioset, self.fc_dropout, self.training)


def _resnet(name: str, checkpoint_class: str | None, **kwargs) -> PannsResNet:
    info = ModelInfo(name=name, input="log-mel", sample_rate=0, checkpoint_class=checkpoint_class, reference=_REF)
    return PannsResNet(info, **kwargs)


@register_model
def resnet22(**kwargs) -> PannsResNet:
    """ResNet22: stem + 4 stages of 2 basic blocks + ConvBlock to 2048; 63.7 M parameters."""
    return _resnet("resnet22", "ResNet22", block="basic", depths=(2, 2, 2, 2), **kwargs)


@register_model
def resnet38(**kwargs) -> PannsResNet:
    """ResNet38: stages of 3, 4, 6, 3 basic blocks; 73.8 M parameters (PANNs' best ResNet)."""
    return _resnet("resnet38", "ResNet38", block="basic", depths=(3, 4, 6, 3), **kwargs)


@register_model
def resnet54(**kwargs) -> PannsResNet:
    """ResNet54: stages of 3, 4, 6, 3 bottleneck blocks (x4 expansion); 104.3 M parameters."""
    return _resnet("resnet54", "ResNet54", block="bottleneck", depths=(3, 4, 6, 3), **kwargs)


@register_model
def test_resnet(**kwargs) -> PannsResNet:
    """Test-size ResNet (one narrow bottleneck per stage) for fast unit tests."""
    return _resnet(
        "test_resnet", None, block="bottleneck", depths=(1, 1, 1, 1), widths=(4, 4, 8, 8), head_channels=16, **kwargs
    )
