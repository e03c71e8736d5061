"""PANNs Wavegram models: Wavegram_Cnn14 and Wavegram_Logmel_Cnn14.

Kong et al., "PANNs: Large-Scale Pretrained Audio Neural Networks for Audio Pattern
Recognition", IEEE/ACM TASLP 2020, section III-D. A learnt 1-D front-end turns the waveform
into a "Wavegram", a time-frequency map with the log-mel's frame rate (one frame per 320
samples, 100 per second at 32 kHz) and 32 "frequency" bins; a Cnn14-style 2-D stack classifies
it, alone (Wavegram_Cnn14) or concatenated channel-wise with the log-mel after the first conv
block (Wavegram_Logmel_Cnn14, the best model of the paper, mAP 0.439). The paper's 128-mel-bin
ablation (Wavegram_Logmel128_Cnn14) has a 64-bin Wavegram to match. One parametrised class,
:class:`Wavegram`; attribute names equal the original code's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audiocnn.features.augment import MixPlan
from audiocnn.models._registry import register_model
from audiocnn.models.base import ModelInfo, init_bn, init_layer
from audiocnn.models.layers import PANNS_FRONTENDS, ConvBlock, PannsClipHead, PannsLogMelModel, panns_clip_head
from audiocnn.models.wave_layers import (
    DilatedConvBlock1d,
    TimeOp,
    conv_op,
    ops_output_length,
    ops_receptive_field,
    pool_op,
    shortest_valid_length,
)

__all__ = ["Wavegram"]

_REF = "Kong et al. 2020, PANNs (TASLP)"


class Wavegram(PannsClipHead, PannsLogMelModel):
    """Wavegram (optionally + log-mel) -> 2-D conv blocks -> max + mean over time -> ``fc1`` -> classifier.

    Wavegram branch: ``pre_conv0`` (kernel 11, stride 5) + BN + ReLU, then ``pre_block{i}``
    (two 1-D convs, max-pool by 4) for each entry of ``pre_channels``; the last one's channels
    are split into ``pre_channels[-1] // wavegram_bins`` groups of ``wavegram_bins`` "frequency"
    bins, giving a ``(batch, groups, time, bins)`` image, which ``pre_block4`` (a 2-D
    :class:`ConvBlock`, pooled (2, 1)) maps to ``channels[0]`` channels.

    Log-mel branch (``logmel=True``): the PANNs 32 kHz log-mel (``n_mels`` bins, 64 by default)
    through ``bn0``, SpecAugment and ``conv_block1`` (pooled (2, 2), so ``n_mels // 2`` bins,
    which must equal ``wavegram_bins``), concatenated with the Wavegram along channels;
    ``conv_block2`` then takes ``2 * channels[0]`` channels.

    Then ``conv_block2`` ... ``conv_block{len(channels)}``, average-pooled (2, 2) except the last,
    dropout 0.2 before each block and after the last.

    Without the log-mel branch, the original model still stores ``conv_block1`` and ``bn0``
    but never uses them; their checkpoint keys are accepted and dropped
    (``info.ignored_checkpoint_keys``).

    When the log-mel branch has one frame more than the Wavegram (the original raises a size
    mismatch for about half of all input lengths; 10-s clips are fine), its last frame is dropped.

    Args:
        channels: output channels of ``conv_block1`` ... ``conv_block{n}`` (``channels[0]`` is
            also the Wavegram's channel count).
        pre_channels: output channels of ``pre_conv0`` and the 1-D ``pre_block``s.
        wavegram_bins: frequency bins of the Wavegram (32 = the log-mel's bins after one pooling).
        logmel: add the log-mel branch.
        n_mels: mel bins of the log-mel branch (default 64).
        sample_rate: must be 32000 (accepted so that callers can pass it uniformly).
    """

    sample_rate_hz = 32000

    def __init__(
        self,
        info: ModelInfo,
        channels: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048),
        pre_channels: tuple[int, ...] = (64, 64, 128, 128),
        num_classes: int = 527,
        wavegram_bins: int = 32,
        logmel: bool = True,
        conv_dropout: float = 0.2,
        fc_dropout: float = 0.5,
        spec_augment: bool = True,
        sample_rate: int = 32000,
        n_mels: int | None = None,
    ):
        super().__init__()
        if sample_rate != self.sample_rate_hz:
            # the Wavegram's 320-sample frames match the log-mel hop of the 32 kHz front-end only
            raise ValueError(f"the Wavegram models are defined at {self.sample_rate_hz} Hz only, got sample_rate={sample_rate}")
        if pre_channels[-1] % wavegram_bins:
            raise ValueError(f"pre_channels[-1] = {pre_channels[-1]} is not a multiple of wavegram_bins = {wavegram_bins}")
        self.logmel = logmel
        n_mels = PANNS_FRONTENDS[self.sample_rate_hz][2] if n_mels is None else n_mels
        if logmel:
            if wavegram_bins != n_mels // 2:
                raise ValueError(
                    f"with the log-mel branch wavegram_bins must be n_mels // 2 = {n_mels // 2}, got {wavegram_bins}"
                )
            self._init_frontend(self.sample_rate_hz, spec_augment, n_mels)

        self.pre_conv0 = nn.Conv1d(1, pre_channels[0], kernel_size=11, stride=5, padding=5, bias=False)
        self.pre_bn0 = nn.BatchNorm1d(pre_channels[0])
        init_layer(self.pre_conv0)
        init_bn(self.pre_bn0)
        for i, (cin, cout) in enumerate(zip(pre_channels[:-1], pre_channels[1:]), start=1):
            setattr(self, f"pre_block{i}", DilatedConvBlock1d(cin, cout))
        self.num_pre_blocks = len(pre_channels) - 1
        self.wavegram_bins = wavegram_bins
        self.wavegram_groups = pre_channels[-1] // wavegram_bins
        # named pre_block{n+1} (pre_block4 in PANNs) like the 1-D blocks before it
        setattr(self, f"pre_block{self.num_pre_blocks + 1}", ConvBlock(self.wavegram_groups, channels[0]))

        if logmel:
            self.conv_block1 = ConvBlock(1, channels[0])
        in_ch = 2 * channels[0] if logmel else channels[0]
        for i, out_ch in enumerate(channels[1:], start=2):
            setattr(self, f"conv_block{i}", ConvBlock(in_ch, out_ch))
            in_ch = out_ch
        self.num_blocks = len(channels)
        self.conv_dropout, self.fc_dropout = conv_dropout, fc_dropout
        self.fc1 = nn.Linear(in_ch, in_ch, bias=True)
        self.fc_audioset = nn.Linear(in_ch, num_classes, bias=True)
        init_layer(self.fc1)
        init_layer(self.fc_audioset)

        self.info = ModelInfo(
            **{
                **info.to_dict(),
                "input": "both" if logmel else "waveform",
                "sample_rate": self.sample_rate_hz,
                "min_samples": shortest_valid_length(self.output_length),
                "gradcam_layer": f"conv_block{self.num_blocks}.conv2",
                "ignored_checkpoint_keys": () if logmel else ("conv_block1.*", "bn0.*"),
                "embedding_dim": in_ch,
            }
        )

    # -- lengths -------------------------------------------------------------------------------
    def time_ops(self, branch: str = "wavegram") -> list[TimeOp]:
        """The convolutions and poolings along time from the input of ``branch`` (``"wavegram"``
        or ``"logmel"``) to the last feature map (see :mod:`~audiocnn.models.wave_layers`)."""
        block = [conv_op(3), conv_op(3)]  # a 3x3 ConvBlock, along time
        if branch == "wavegram":
            ops = [conv_op(11, 5)] + [conv_op(3), conv_op(3, dilation=2), pool_op(4)] * self.num_pre_blocks
        elif branch == "logmel" and self.logmel:
            n_fft, hop = PANNS_FRONTENDS[self.sample_rate_hz][:2]
            ops = [conv_op(n_fft, hop, padding=n_fft // 2)]  # centred STFT frames
        else:
            raise ValueError(f"branch must be 'wavegram'{' or logmel' if self.logmel else ''}, got {branch!r}")
        ops += block + [pool_op(2)]  # pre_block{n+1} or conv_block1
        for _ in range(2, self.num_blocks):
            ops += block + [pool_op(2)]
        return ops + block

    def wavegram_frames(self, num_samples: int) -> int:
        """Frames of the Wavegram (before ``pre_block{n+1}``'s pooling) for ``num_samples``."""
        return ops_output_length(self.time_ops()[: 1 + 3 * self.num_pre_blocks], num_samples)

    def output_length(self, num_samples: int) -> int:
        """Time steps of the last feature map (< 1: the input is too short)."""
        n = ops_output_length(self.time_ops("wavegram"), num_samples)
        if self.logmel:
            if num_samples <= PANNS_FRONTENDS[self.sample_rate_hz][0] // 2:
                return 0  # reflect padding needs more samples than half a window
            # the log-mel branch is cropped to the Wavegram's frames after conv_block1
            n = min(n, ops_output_length(self.time_ops("logmel"), num_samples))
        return n

    def receptive_field(self, branch: str = "wavegram") -> tuple[int, int]:
        """``(receptive field, hop)`` in samples of one step of the last feature map, through ``branch``."""
        return ops_receptive_field(self.time_ops(branch))

    # -- forward -------------------------------------------------------------------------------
    def wavegram(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` -> Wavegram features ``(batch, channels[0], frames // 2, wavegram_bins)``."""
        x = F.relu_(self.pre_bn0(self.pre_conv0(waveform[:, None, :])))
        for i in range(1, self.num_pre_blocks + 1):
            x = getattr(self, f"pre_block{i}")(x, pool_size=4)
        # channel c = group * bins + bin, as the original's reshape
        x = x.reshape(x.shape[0], self.wavegram_groups, self.wavegram_bins, -1).transpose(2, 3)
        return getattr(self, f"pre_block{self.num_pre_blocks + 1}")(x, pool_size=(2, 1), pool_type="avg")

    def forward_conv(self, waveform: torch.Tensor, mixup: MixPlan | None = None) -> torch.Tensor:
        """``(batch, samples)`` -> frame features ``(batch, channels, time')`` (frequency averaged).
        ``mixup`` mixes the Wavegram and the log-mel after SpecAugment (training, as PANNs)."""
        x = self.wavegram(self.check_input(waveform))
        if mixup is not None:
            x = mixup(x)
        if self.logmel:
            mel = self.conv_block1(self.frontend(waveform, mixup), pool_size=(2, 2), pool_type="avg")
            # The log-mel branch has as many frames as the Wavegram or one more (1 + n // 320
            # vs (n + 4) // 320 before the pooling); the original fails on the extra frame.
            # The first frames are taken by index (not a slice or a Python min): the result has
            # the Wavegram's size by construction, so torch.export records no guard relating the
            # two frame counts and the exported graph holds for every length.
            first = torch.arange(x.shape[2], device=mel.device)
            x = torch.cat((mel.index_select(2, first), x), dim=1)
        for i in range(2, self.num_blocks + 1):
            x = F.dropout(x, p=self.conv_dropout, training=self.training)
            pool = (1, 1) if i == self.num_blocks else (2, 2)
            x = getattr(self, f"conv_block{i}")(x, pool_size=pool, pool_type="avg")
        x = F.dropout(x, p=self.conv_dropout, training=self.training)
        return x.mean(dim=3)

    def forward(self, waveform: torch.Tensor, mixup: MixPlan | None = None) -> dict[str, torch.Tensor]:
        return panns_clip_head(self.forward_conv(waveform, mixup), self.fc1, self.fc_audioset, self.fc_dropout, self.training)


def _info(name: str, checkpoint_class: str) -> ModelInfo:
    return ModelInfo(name=name, input="", sample_rate=0, checkpoint_class=checkpoint_class, reference=_REF)


@register_model
def wavegram_cnn14(**kwargs) -> Wavegram:
    """Wavegram_Cnn14: learnt 1-D front-end (Wavegram) + Cnn14 blocks 2-6."""
    return Wavegram(_info("wavegram_cnn14", "Wavegram_Cnn14"), logmel=False, **kwargs)


@register_model
def wavegram_logmel_cnn14(**kwargs) -> Wavegram:
    """Wavegram_Logmel_Cnn14: Wavegram and log-mel concatenated after the first Cnn14 block;
    the best PANNs system (AudioSet mAP 0.439)."""
    return Wavegram(_info("wavegram_logmel_cnn14", "Wavegram_Logmel_Cnn14"), logmel=True, **kwargs)


@register_model
def wavegram_logmel128_cnn14(**kwargs) -> Wavegram:
    """Wavegram_Logmel_Cnn14 with a 128-bin log-mel and a 64-bin Wavegram (``pre_block3`` with
    256 channels, 4 groups of 64 bins), so that both branches have 64 bins after ``conv_block1``."""
    return Wavegram(
        _info("wavegram_logmel128_cnn14", "Wavegram_Logmel128_Cnn14"),
        pre_channels=(64, 64, 128, 256),
        wavegram_bins=64,
        n_mels=128,
        logmel=True,
        **kwargs,
    )


@register_model
def test_wavegram(**kwargs) -> Wavegram:
    """Test-size Wavegram + log-mel model (narrow, three 2-D blocks)."""
    return Wavegram(_info("test_wavegram", ""), channels=(8, 16, 16), pre_channels=(8, 8, 8, 32), logmel=True, **kwargs)
