"""PANNs 1-D CNNs on the raw waveform: LeeNet11, LeeNet24, DaiNet19, Res1dNet31, Res1dNet51.

Kong et al., "PANNs: Large-Scale Pretrained Audio Neural Networks for Audio Pattern
Recognition", IEEE/ACM TASLP 2020, section III-B/C, after Lee et al. 2017 (sample-level CNNs,
"LeeNet") and Dai et al. 2017 (very deep 1-D CNNs, "DaiNet"). Two parametrised classes:

- :class:`WaveCnn1d`: a plain stack of 1-D conv blocks with max-pooling between them, either
  conv-bn-relu blocks (LeeNet) or residual blocks behind a wide strided stem (DaiNet);
- :class:`Res1dNet`: a stem conv and seven stages of 1-D residual basic blocks.

Attribute names equal the original code's, so the original state dicts load unchanged. None of
these models has a front-end: they read the waveform directly, and their ``sample_rate`` is the
rate they were trained at (32 kHz), not something the layers depend on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audiocnn.models._registry import register_model
from audiocnn.models.base import AudioModel, ModelInfo, init_bn, init_layer, max_pool1d
from audiocnn.models.layers import PannsClipHead, panns_clip_head
from audiocnn.models.wave_layers import (
    TimeOpsGeometry,
    Conv1dBlock,
    ResBasicBlock1d,
    ResidualConvBlock1d,
    TimeOp,
    conv_op,
    pool_op,
    shortest_valid_length,
)

__all__ = ["Res1dNet", "WaveCnn1d"]

_REF = "Kong et al. 2020, PANNs (TASLP)"


def _finish_info(info: ModelInfo, **fields) -> ModelInfo:
    return ModelInfo(**{**info.to_dict(), **fields})


class WaveCnn1d(PannsClipHead, TimeOpsGeometry, AudioModel):
    """A stack of 1-D conv blocks on the waveform, max + mean over time, ``fc1``, classifier.

    Block ``i`` is ``conv_block{i}``; after it comes max-pooling by ``pools[i]`` (1 = none)
    and, for all but the last block, dropout ``block_dropout``.

    Args:
        channels: output channels of each block.
        pools: max-pool size after each block (stride = size).
        block: ``"plain"`` (``num_convs`` x conv-bn-relu, LeeNet) or ``"residual"``
            (``num_convs`` convs with a shortcut, DaiNet).
        num_convs: convolutions per block.
        first_stride: stride of the first convolution of block 1 (LeeNet: 3, a "frame" of 3
            samples).
        stem: ``(channels, kernel_size, stride)`` of an unpadded conv + BN before the blocks
            (``conv0``/``bn0``, DaiNet), or ``None``.
        pool_padding: pad the pooling by ``size // 2`` (LeeNet) so that no sample is dropped.
        fc_dim: width of ``fc1`` (= embedding size).
        block_dropout / fc_dropout: dropout after the blocks and in the head.
        sample_rate: nominal input rate in Hz (the layers do not depend on it).
    """

    def __init__(
        self,
        info: ModelInfo,
        channels: tuple[int, ...],
        pools: tuple[int, ...],
        num_classes: int = 527,
        block: str = "plain",
        num_convs: int = 1,
        kernel_size: int = 3,
        first_stride: int = 1,
        stem: tuple[int, int, int] | None = None,
        pool_padding: bool = True,
        fc_dim: int | None = None,
        block_dropout: float = 0.0,
        fc_dropout: float = 0.5,
        sample_rate: int = 32000,
    ):
        super().__init__()
        if len(pools) != len(channels):
            raise ValueError(f"need one pool size per block: {len(channels)} blocks, {len(pools)} pool sizes")
        if block not in ("plain", "residual"):
            raise ValueError(f"block must be 'plain' or 'residual', got {block!r}")
        if block == "residual" and first_stride != 1:
            raise ValueError("residual blocks keep the length; use a stem to downsample")
        in_ch = 1
        self.stem = stem
        if stem is not None:
            stem_ch, stem_kernel, stem_stride = stem
            self.conv0 = nn.Conv1d(1, stem_ch, stem_kernel, stride=stem_stride, bias=False)
            self.bn0 = nn.BatchNorm1d(stem_ch)
            init_layer(self.conv0)
            init_bn(self.bn0)
            in_ch = stem_ch
        for i, out_ch in enumerate(channels, start=1):
            if block == "plain":
                m = Conv1dBlock(in_ch, out_ch, kernel_size, first_stride if i == 1 else 1, num_convs)
            else:
                m = ResidualConvBlock1d(in_ch, out_ch, kernel_size, num_convs)
            setattr(self, f"conv_block{i}", m)
            in_ch = out_ch
        self.num_blocks = len(channels)
        self.pools = tuple(pools)
        self.pool_padding = pool_padding
        self.block_dropout, self.fc_dropout = block_dropout, fc_dropout
        fc_dim = fc_dim or in_ch
        self.fc1 = nn.Linear(in_ch, fc_dim, bias=True)
        self.fc_audioset = nn.Linear(fc_dim, num_classes, bias=True)
        init_layer(self.fc1)
        init_layer(self.fc_audioset)

        self._kernel, self._first_stride, self._num_convs = kernel_size, first_stride, num_convs
        self.info = _finish_info(
            info,
            sample_rate=sample_rate,
            min_samples=shortest_valid_length(self.output_length),
            gradcam_layer=f"conv_block{self.num_blocks}.conv{num_convs}",
            embedding_dim=fc_dim,
        )

    def time_ops(self) -> list[TimeOp]:
        """The convolutions and poolings along time, in order (see :mod:`~audiocnn.models.wave_layers`)."""
        ops = [conv_op(self.stem[1], self.stem[2], padding=0)] if self.stem is not None else []
        for i, pool in enumerate(self.pools):
            ops.append(conv_op(self._kernel, self._first_stride if i == 0 else 1))
            ops += [conv_op(self._kernel)] * (self._num_convs - 1)
            if pool != 1:
                ops.append(pool_op(pool, pool // 2 if self.pool_padding else 0))
        return ops

    def forward_conv(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` -> features ``(batch, channels, time')``."""
        x = self.check_input(waveform)[:, None, :]
        if self.stem is not None:
            x = self.bn0(self.conv0(x))  # no ReLU here, as in the original
        for i in range(1, self.num_blocks + 1):
            x = getattr(self, f"conv_block{i}")(x)
            pool = self.pools[i - 1]
            if pool != 1:
                x = max_pool1d(x, kernel_size=pool, padding=pool // 2 if self.pool_padding else 0)
            if i < self.num_blocks:
                x = F.dropout(x, p=self.block_dropout, training=self.training)
        return x

    def forward(self, waveform: torch.Tensor) -> dict[str, torch.Tensor]:
        return panns_clip_head(self.forward_conv(waveform), self.fc1, self.fc_audioset, self.fc_dropout, self.training)


class _ResNetStages(nn.Module):
    """Container whose children ``layer1`` ... ``layerN`` give the original key prefixes
    (``resnet.layer2.0.conv1.weight`` ...)."""

    def __init__(self, channels: tuple[int, ...], blocks: tuple[int, ...], strides: tuple[int, ...], in_channels: int, dropout: float):
        super().__init__()
        self.num_stages = len(channels)
        for s, (out_ch, n, stride) in enumerate(zip(channels, blocks, strides), start=1):
            stage = [ResBasicBlock1d(in_channels, out_ch, stride, dropout)]
            stage += [ResBasicBlock1d(out_ch, out_ch, 1, dropout) for _ in range(n - 1)]
            setattr(self, f"layer{s}", nn.Sequential(*stage))
            in_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for s in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{s}")(x)
        return x


class Res1dNet(PannsClipHead, TimeOpsGeometry, AudioModel):
    """1-D ResNet on the waveform: ``conv0`` (kernel 11, stride 5) + BN, residual stages
    (``resnet.layer{s}``), max + mean over time, ``fc1``, classifier.

    Args:
        blocks: residual blocks per stage.
        channels: output channels per stage.
        strides: downsampling factor at the start of each stage.
        stem_channels: output channels of ``conv0``.
        block_dropout: dropout inside each block (0.1); fc_dropout: in the head (0.5).
        sample_rate: nominal input rate in Hz (the layers do not depend on it).
    """

    def __init__(
        self,
        info: ModelInfo,
        blocks: tuple[int, ...],
        channels: tuple[int, ...] = (64, 128, 256, 512, 1024, 1024, 2048),
        strides: tuple[int, ...] = (1, 4, 4, 4, 4, 4, 4),
        num_classes: int = 527,
        stem_channels: int = 64,
        block_dropout: float = 0.1,
        fc_dropout: float = 0.5,
        sample_rate: int = 32000,
    ):
        super().__init__()
        if not len(blocks) == len(channels) == len(strides):
            raise ValueError(f"blocks, channels and strides need one entry per stage: {blocks}, {channels}, {strides}")
        self.conv0 = nn.Conv1d(1, stem_channels, kernel_size=11, stride=5, padding=5, bias=False)
        self.bn0 = nn.BatchNorm1d(stem_channels)
        init_layer(self.conv0)
        init_bn(self.bn0)
        self.resnet = _ResNetStages(tuple(channels), tuple(blocks), tuple(strides), stem_channels, block_dropout)
        self.strides, self.blocks = tuple(strides), tuple(blocks)
        self.fc_dropout = fc_dropout
        self.fc1 = nn.Linear(channels[-1], channels[-1], bias=True)
        self.fc_audioset = nn.Linear(channels[-1], num_classes, bias=True)
        init_layer(self.fc1)
        init_layer(self.fc_audioset)
        self.info = _finish_info(
            info,
            sample_rate=sample_rate,
            min_samples=shortest_valid_length(self.output_length),
            gradcam_layer=f"resnet.layer{len(channels)}.{blocks[-1] - 1}.conv2",
            embedding_dim=channels[-1],
        )

    def time_ops(self) -> list[TimeOp]:
        """The convolutions and poolings along time on the main path, in order."""
        ops = [conv_op(11, 5)]
        for stride, n in zip(self.strides, self.blocks):
            for b in range(n):
                if b == 0 and stride != 1:
                    ops.append(pool_op(stride))
                ops += [conv_op(3), conv_op(3, dilation=2)]
        return ops

    def forward_conv(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` -> features ``(batch, channels, time')``."""
        x = self.check_input(waveform)[:, None, :]
        return self.resnet(self.bn0(self.conv0(x)))  # no ReLU after bn0, as in the original

    def forward(self, waveform: torch.Tensor) -> dict[str, torch.Tensor]:
        return panns_clip_head(self.forward_conv(waveform), self.fc1, self.fc_audioset, self.fc_dropout, self.training)


def _info(name: str, checkpoint_class: str) -> ModelInfo:
    return ModelInfo(name=name, input="waveform", sample_rate=0, checkpoint_class=checkpoint_class, reference=_REF)


@register_model
def leenet11(**kwargs) -> WaveCnn1d:
    """LeeNet11: nine conv-bn-relu blocks (kernel 3, first stride 3, max-pool 3), 64-256 channels."""
    kwargs = {"fc_dim": 512, **kwargs}
    return WaveCnn1d(
        _info("leenet11", "LeeNet11"),
        channels=(64, 64, 64, 128, 128, 128, 128, 128, 256),
        pools=(1, 3, 3, 3, 3, 3, 3, 3, 3),
        first_stride=3,
        **kwargs,
    )


@register_model
def leenet24(**kwargs) -> WaveCnn1d:
    """LeeNet24: nine blocks of two conv-bn-relu (first stride 3, max-pool 3), 64-1024 channels."""
    kwargs = {"block_dropout": 0.1, **kwargs}
    return WaveCnn1d(
        _info("leenet24", "LeeNet24"),
        channels=(64, 96, 128, 128, 256, 256, 512, 512, 1024),
        pools=(1, 3, 3, 3, 3, 3, 3, 3, 1),
        num_convs=2,
        first_stride=3,
        **kwargs,
    )


@register_model
def dainet19(**kwargs) -> WaveCnn1d:
    """DaiNet19: an 80-sample stride-4 stem, then four residual blocks of four convs (64-512
    channels) with max-pooling by 4 between them."""
    return WaveCnn1d(
        _info("dainet19", "DaiNet19"),
        channels=(64, 128, 256, 512),
        pools=(4, 4, 4, 1),
        block="residual",
        num_convs=4,
        stem=(64, 80, 4),
        pool_padding=False,
        **kwargs,
    )


@register_model
def res1dnet31(**kwargs) -> Res1dNet:
    """Res1dNet31: stride-5 stem, seven stages of two basic blocks (64-2048 channels)."""
    return Res1dNet(_info("res1dnet31", "Res1dNet31"), blocks=(2, 2, 2, 2, 2, 2, 2), **kwargs)


@register_model
def res1dnet51(**kwargs) -> Res1dNet:
    """Res1dNet51: as Res1dNet31 with (2, 3, 4, 6, 4, 3, 2) basic blocks per stage."""
    return Res1dNet(_info("res1dnet51", "Res1dNet51"), blocks=(2, 3, 4, 6, 4, 3, 2), **kwargs)


@register_model
def test_leenet(**kwargs) -> WaveCnn1d:
    """Test-size LeeNet (three narrow two-conv blocks) for fast unit tests."""
    return WaveCnn1d(_info("test_leenet", ""), channels=(8, 16, 16), pools=(1, 3, 3), num_convs=2, first_stride=3, **kwargs)


@register_model
def test_dainet(**kwargs) -> WaveCnn1d:
    """Test-size DaiNet (stem + two narrow residual blocks)."""
    return WaveCnn1d(
        _info("test_dainet", ""), channels=(8, 16), pools=(4, 1), block="residual", num_convs=2, stem=(8, 16, 4), pool_padding=False, **kwargs
    )


@register_model
def test_res1dnet(**kwargs) -> Res1dNet:
    """Test-size Res1dNet (three narrow stages of one block)."""
    return Res1dNet(_info("test_res1dnet", ""), blocks=(1, 1, 1), channels=(8, 16, 16), strides=(1, 4, 4), stem_channels=8, **kwargs)
