"""PANNs MobileNets on log-mel: MobileNetV1 and MobileNetV2.

Kong et al., "PANNs: Large-Scale Pretrained Audio Neural Networks for Audio Pattern
Recognition", IEEE/ACM TASLP 2020, section III-E, after Howard et al. 2017 (V1, depthwise
separable convolutions) and Sandler et al. 2018 (V2, inverted residuals with linear
bottlenecks). As in PANNs, every stride-2 convolution is replaced by a stride-1 convolution
followed by 2x2 average pooling, and the head is the Cnn14 one (max + mean over time, ``fc1``,
classifier).

One parametrised class, :class:`PannsMobileNet`; the registered variants set the version and
the stage table. The ``features`` sequence keeps the original layout (conv, pool, bn, relu ...)
so the released checkpoints (``MobileNetV1_mAP=0.389.pth`` ...) load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audiocnn.features.augment import MixPlan
from audiocnn.models._registry import register_model
from audiocnn.models.base import ModelInfo, init_bn, init_layer
from audiocnn.models.layers import PannsClipHead, PannsLogMelModel, logmel_clip_info, time_pool_max_mean

__all__ = ["InvertedResidual", "PannsMobileNet"]

_REF_V1 = "Kong et al. 2020, PANNs (TASLP); Howard et al. 2017, MobileNets"
_REF_V2 = "Kong et al. 2020, PANNs (TASLP); Sandler et al. 2018, MobileNetV2"

# MobileNetV1: (output channels, stride) of the depthwise-separable blocks after the 32-channel stem
V1_STAGES = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)) + ((512, 1),) * 5 + ((1024, 2), (1024, 1))
# MobileNetV2: (expansion t, channels c, repeats n, stride s) after the 32-channel stem
V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 2), (6, 160, 3, 1), (6, 320, 1, 1))


def _conv_pool_bn_act(cin: int, cout: int, stride: int, act: type[nn.Module], groups: int = 1) -> list[nn.Module]:
    """3x3 conv (stride 1), ``stride`` x ``stride`` average pooling, BN, activation."""
    conv = nn.Conv2d(cin, cout, 3, 1, 1, groups=groups, bias=False)
    bn = nn.BatchNorm2d(cout)
    init_layer(conv)
    init_bn(bn)
    return [conv, nn.AvgPool2d(stride), bn, act(inplace=True)]


def _pointwise(cin: int, cout: int, act: type[nn.Module] | None) -> list[nn.Module]:
    conv = nn.Conv2d(cin, cout, 1, 1, 0, bias=False)
    bn = nn.BatchNorm2d(cout)
    init_layer(conv)
    init_bn(bn)
    return [conv, bn] + ([act(inplace=True)] if act is not None else [])


def _separable(cin: int, cout: int, stride: int) -> nn.Sequential:
    """MobileNetV1 block: depthwise 3x3 (+ pooling), BN, ReLU, pointwise 1x1, BN, ReLU."""
    return nn.Sequential(*_conv_pool_bn_act(cin, cin, stride, nn.ReLU, groups=cin), *_pointwise(cin, cout, nn.ReLU))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: [1x1 expand, BN, ReLU6,] depthwise 3x3 (+ pooling), BN, ReLU6, 1x1
    project, BN (linear); identity shortcut when the shape is kept."""

    def __init__(self, cin: int, cout: int, stride: int, expand_ratio: int):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        hidden = round(cin * expand_ratio)
        self.use_res_connect = stride == 1 and cin == cout
        expand = _pointwise(cin, hidden, nn.ReLU6) if expand_ratio != 1 else []
        depthwise = _conv_pool_bn_act(hidden, hidden, stride, nn.ReLU6, groups=hidden)
        self.conv = nn.Sequential(*expand, *depthwise, *_pointwise(hidden, cout, None))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class PannsMobileNet(PannsClipHead, PannsLogMelModel):
    """Log-mel -> MobileNet ``features`` (time and frequency / 32) -> Cnn14-style head.

    Args:
        version: ``"v1"`` (depthwise-separable blocks, ReLU) or ``"v2"`` (inverted residuals,
            ReLU6, a final 1x1 conv to ``last_channels``).
        stages: :data:`V1_STAGES`-like ``(channels, stride)`` pairs for v1, or
            :data:`V2_STAGES`-like ``(t, c, n, s)`` rows for v2.
        stem_channels: output channels of the first 3x3 conv (which pools by 2).
        last_channels: v2 only, channels of the final 1x1 conv.
        fc_channels: width of ``fc1`` = embedding size (1024).
        sample_rate: 32000, 16000 or 8000 (the PANNs front-end of that rate).
        fc_dropout: 0.5; PANNs' MobileNetV2 has no dropout before ``fc1``, V1 has.
    """

    def __init__(
        self,
        info: ModelInfo,
        num_classes: int = 527,
        version: str = "v1",
        stages: tuple[tuple[int, ...], ...] = V1_STAGES,
        stem_channels: int = 32,
        last_channels: int = 1280,
        fc_channels: int = 1024,
        sample_rate: int = 32000,
        fc_dropout: float = 0.5,
        spec_augment: bool = True,
    ):
        super().__init__()
        if version not in ("v1", "v2"):
            raise ValueError(f"version must be 'v1' or 'v2', got {version!r}")
        self._init_frontend(sample_rate, spec_augment)
        self.version, self.fc_dropout = version, fc_dropout
        act = nn.ReLU if version == "v1" else nn.ReLU6
        features: list[nn.Module] = [nn.Sequential(*_conv_pool_bn_act(1, stem_channels, 2, act))]
        cin, strides = stem_channels, [2]
        last_conv = ""
        if version == "v1":
            for cout, stride in stages:
                features.append(_separable(cin, cout, stride))
                cin, strides = cout, strides + [stride]
            last_conv = f"features.{len(features) - 1}.4"
        else:
            for t, c, n, s in stages:
                for i in range(n):
                    features.append(InvertedResidual(cin, c, s if i == 0 else 1, expand_ratio=t))
                    cin, strides = c, strides + [s if i == 0 else 1]
            features.append(nn.Sequential(*_pointwise(cin, last_channels, nn.ReLU6)))
            cin = last_channels
            last_conv = f"features.{len(features) - 1}.0"
        self.features = nn.Sequential(*features)
        self.fc1 = nn.Linear(cin, fc_channels, bias=True)
        self.fc_audioset = nn.Linear(fc_channels, num_classes, bias=True)
        init_layer(self.fc1)
        init_layer(self.fc_audioset)
        self.time_ratio = 1
        for s in strides:
            self.time_ratio *= s
        self.info = logmel_clip_info(info, sample_rate, self.time_ratio, gradcam_layer=last_conv, embedding_dim=fc_channels)

    def forward_conv(self, waveform: torch.Tensor, mixup: MixPlan | None = None) -> torch.Tensor:
        """``(batch, samples)`` -> feature map ``(batch, channels, time/32, mels/32)``;
        ``mixup`` mixes the log-mel after SpecAugment (training, as PANNs)."""
        return self.features(self.frontend(waveform, mixup))

    def forward(self, waveform: torch.Tensor, mixup: MixPlan | None = None) -> dict[str, torch.Tensor]:
        x = time_pool_max_mean(self.forward_conv(waveform, mixup).mean(dim=3))
        if self.version == "v1":
            x = F.dropout(x, p=self.fc_dropout, training=self.training)
        x = F.relu(self.fc1(x))
        # as in PANNs: the embedding is dropped out, the classifier reads the undropped x
        embedding = F.dropout(x, p=self.fc_dropout, training=self.training)
        return {"logits": self.fc_audioset(x), "embedding": embedding}


def _mobilenet(name: str, checkpoint_class: str | None, reference: str, **kwargs) -> PannsMobileNet:
    info = ModelInfo(name=name, input="log-mel", sample_rate=0, checkpoint_class=checkpoint_class, reference=reference)
    return PannsMobileNet(info, **kwargs)


@register_model
def mobilenet_v1(**kwargs) -> PannsMobileNet:
    """MobileNetV1 (13 depthwise-separable blocks, 32-1024 channels); 4.8 M parameters."""
    return _mobilenet("mobilenet_v1", "MobileNetV1", _REF_V1, version="v1", stages=V1_STAGES, **kwargs)


@register_model
def mobilenet_v2(**kwargs) -> PannsMobileNet:
    """MobileNetV2 (17 inverted residual blocks, final 1x1 conv to 1280); 4.1 M parameters."""
    return _mobilenet("mobilenet_v2", "MobileNetV2", _REF_V2, version="v2", stages=V2_STAGES, **kwargs)


@register_model
def test_mobilenet(**kwargs) -> PannsMobileNet:
    """Test-size MobileNetV2 (narrow, one or two blocks per stage) for fast unit tests."""
    stages = ((1, 4, 1, 1), (2, 8, 2, 2), (2, 8, 1, 2), (2, 8, 1, 2), (2, 16, 1, 2))
    return _mobilenet(
        "test_mobilenet", None, _REF_V2, version="v2", stages=stages, stem_channels=4, last_channels=16, fc_channels=16, **kwargs
    )
