"""PANNs CNNs on log-mel: Cnn6, Cnn10, Cnn14 (32/16/8 kHz), Cnn14 with decision-level pooling
and the Cnn14 ablations of the paper (embedding size, mel bins, no SpecAugment, no dropout,
time-domain mixup).

Kong et al., "PANNs: Large-Scale Pretrained Audio Neural Networks for Audio Pattern
Recognition", IEEE/ACM TASLP 2020. One parametrised class, :class:`PannsCnn`; each registered
variant only sets its hyper-parameters. Attribute names equal the original code's, so the
released checkpoints (``Cnn14_mAP=0.431.pth`` ...) load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audiocnn.features.augment import MixPlan
from audiocnn.models._registry import register_model
from audiocnn.models.base import ModelInfo, init_layer, max_pool1d
from audiocnn.models.layers import (
    AttBlock,
    ConvBlock,
    PannsLogMelModel,
    logmel_min_samples,
    prob_to_logit,
    repeat_frames,
    time_pool_max_mean,
)

__all__ = ["PannsCnn"]

_REF = "Kong et al. 2020, PANNs (TASLP)"


class PannsCnn(PannsLogMelModel):
    """Stack of :class:`ConvBlock` on a log-mel, global pooling, ``fc1``, classifier.

    Args:
        channels: output channels of each conv block.
        kernel_size / num_convs: 3 and 2 (``ConvBlock``) or 5 and 1 (``ConvBlock5x5``).
        last_pool: pool size of the last block ((1, 1) in Cnn14, (2, 2) otherwise).
        pooling: ``"clip"`` (max + mean over time of the feature map, as in Cnn6/10/14) or
            decision-level ``"max"``, ``"avg"``, ``"att"`` (frame-wise classification, then
            pooling over time; these models also return ``framewise_logits``).
        sample_rate: 32000, 16000 or 8000 (PANNs front-end settings of that rate).
        n_mels: mel bins of the log-mel (default 64); SpecAugment drops frequency stripes of
            up to ``n_mels // 8`` bins.
        embedding_dim: output size of ``fc1`` (the embedding the classifier reads); default
            ``channels[-1]``.
        conv_dropout / fc_dropout: 0.2 and 0.5 in PANNs (dropout after every conv block, and
            before and after ``fc1``).
        spec_augment: apply SpecAugment to the log-mel in training.
        window_size / hop_size / fmin / fmax: the front-end's STFT window and hop (samples) and
            mel range (Hz); default the PANNs settings of ``sample_rate``
            (:func:`~audiocnn.models.layers.panns_frontend_settings`). The frame rate is
            ``sample_rate / hop_size`` frames per second (100 with the PANNs settings).
    """

    def __init__(
        self,
        info: ModelInfo,
        channels: tuple[int, ...],
        num_classes: int = 527,
        kernel_size: int = 3,
        num_convs: int = 2,
        last_pool: tuple[int, int] = (2, 2),
        pooling: str = "clip",
        sample_rate: int = 32000,
        conv_dropout: float = 0.2,
        fc_dropout: float = 0.5,
        spec_augment: bool = True,
        n_mels: int | None = None,
        embedding_dim: int | None = None,
        window_size: int | None = None,
        hop_size: int | None = None,
        fmin: float | None = None,
        fmax: float | None = None,
    ):
        super().__init__()
        if pooling not in ("clip", "max", "avg", "att"):
            raise ValueError(f"pooling must be 'clip', 'max', 'avg' or 'att', got {pooling!r}")
        if embedding_dim is not None and embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {embedding_dim}")
        self._init_frontend(sample_rate, spec_augment, n_mels, window_size, hop_size, fmin, fmax)
        in_ch = 1
        self.pool_sizes = []
        for i, out_ch in enumerate(channels, start=1):
            setattr(self, f"conv_block{i}", ConvBlock(in_ch, out_ch, kernel_size, num_convs))
            self.pool_sizes.append(tuple(last_pool) if i == len(channels) else (2, 2))
            in_ch = out_ch
        self.num_blocks = len(channels)
        self.pooling = pooling
        self.conv_dropout, self.fc_dropout = conv_dropout, fc_dropout
        emb_dim = in_ch if embedding_dim is None else embedding_dim
        self.fc1 = nn.Linear(in_ch, emb_dim, bias=True)
        init_layer(self.fc1)
        if pooling == "att":
            self.att_block = AttBlock(emb_dim, num_classes)
        else:
            self.fc_audioset = nn.Linear(emb_dim, num_classes, bias=True)
            init_layer(self.fc_audioset)
        self.time_ratio = 1
        for p in self.pool_sizes:
            self.time_ratio *= p[0]
        n_fft, hop = self.logmel_extractor.n_fft, self.logmel_extractor.hop_length
        self.info = ModelInfo(
            **{
                **info.to_dict(),
                "sample_rate": sample_rate,
                "frame_level": pooling != "clip",
                "classifier": "att_block" if pooling == "att" else "fc_audioset",
                "frame_rate": sample_rate / hop,
                "min_samples": logmel_min_samples(sample_rate, self.time_ratio, n_fft, hop),
                "gradcam_layer": f"conv_block{self.num_blocks}.conv{num_convs}",
                "embedding_dim": emb_dim,
            }
        )

    # the attention head is composite, so it needs its own size/reset logic
    @property
    def num_classes(self) -> int:
        return (self.att_block.cla if self.pooling == "att" else self.fc_audioset).weight.shape[0]

    def reset_classifier(self, num_classes: int) -> None:
        if self.pooling != "att":
            return super().reset_classifier(num_classes)
        old = self.att_block
        self.att_block = AttBlock(old.att.in_channels, num_classes).to(old.att.weight.device)

    def conv_map(self, waveform: torch.Tensor, mixup: MixPlan | None = None) -> torch.Tensor:
        """``(batch, samples)`` -> the last conv block's map ``(batch, channels, time', freq')``;
        ``mixup`` mixes the log-mel (:meth:`frontend`)."""
        x = self.frontend(waveform, mixup)
        for i in range(1, self.num_blocks + 1):
            x = getattr(self, f"conv_block{i}")(x, pool_size=self.pool_sizes[i - 1], pool_type="avg")
            x = F.dropout(x, p=self.conv_dropout, training=self.training)
        return x

    def forward_conv(self, waveform: torch.Tensor, mixup: MixPlan | None = None) -> torch.Tensor:
        """``(batch, samples)`` -> frame features ``(batch, channels, time')``: :meth:`conv_map`
        averaged over frequency."""
        return self.conv_map(waveform, mixup).mean(dim=3)

    def forward_features(self, waveform: torch.Tensor) -> torch.Tensor:
        """Pooled pre-logits embedding ``(batch, embedding_dim)``."""
        return self.forward(waveform)["embedding"]

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Clip-level logits from :meth:`forward_features` output (clip-pooling models only)."""
        if self.pooling != "clip":
            raise NotImplementedError("decision-level models classify frames before pooling; call forward()")
        return self.fc_audioset(features)

    def forward(self, waveform: torch.Tensor, mixup: MixPlan | None = None) -> dict[str, torch.Tensor]:
        """``(batch, samples)`` -> ``{"logits", "embedding"[, "framewise_logits"]}``. ``mixup``
        (training): mix the log-mels after SpecAugment, as PANNs does; None leaves the input as it is."""
        frames = self.logmel_extractor.num_frames(waveform.shape[-1])
        x = self.forward_conv(waveform, mixup)
        if self.pooling == "clip":
            x = F.dropout(time_pool_max_mean(x), p=self.fc_dropout, training=self.training)
            x = F.relu_(self.fc1(x))
            # As in PANNs: the embedding is dropped out, the classifier reads the undropped x.
            embedding = F.dropout(x, p=self.fc_dropout, training=self.training)
            return {"logits": self.fc_audioset(x), "embedding": embedding}

        x = max_pool1d(x, 3, stride=1, padding=1) + F.avg_pool1d(x, 3, stride=1, padding=1)
        x = F.dropout(x, p=self.fc_dropout, training=self.training)
        x = F.relu_(self.fc1(x.transpose(1, 2)))  # (batch, time', channels)
        embedding = x.mean(dim=1)
        x = F.dropout(x, p=self.fc_dropout, training=self.training)
        if self.pooling == "att":
            logits, seg_logits = self.att_block(x.transpose(1, 2))
        else:
            seg_logits = self.fc_audioset(x)
            if self.pooling == "max":
                logits = seg_logits.amax(dim=1)
            else:  # mean of the frame probabilities, as in the original
                logits = prob_to_logit(torch.sigmoid(seg_logits).mean(dim=1))
        return {
            "logits": logits,
            "embedding": embedding,
            "framewise_logits": repeat_frames(seg_logits, self.time_ratio, frames),
        }


def _cnn(name: str, checkpoint_class: str, **kwargs) -> PannsCnn:
    info = ModelInfo(name=name, input="log-mel", sample_rate=0, checkpoint_class=checkpoint_class, reference=_REF)
    return PannsCnn(info, **kwargs)


_CNN14 = (64, 128, 256, 512, 1024, 2048)


def _cnn14(name: str, checkpoint_class: str, **kwargs) -> PannsCnn:
    return _cnn(name, checkpoint_class, channels=_CNN14, last_pool=(1, 1), **kwargs)


@register_model
def cnn6(**kwargs) -> PannsCnn:
    """Cnn6: four 5x5 conv blocks (64-512), 4.8 M parameters."""
    return _cnn("cnn6", "Cnn6", channels=(64, 128, 256, 512), kernel_size=5, num_convs=1, **kwargs)


@register_model
def cnn10(**kwargs) -> PannsCnn:
    """Cnn10: four blocks of two 3x3 convs (64-512), 5.2 M parameters."""
    return _cnn("cnn10", "Cnn10", channels=(64, 128, 256, 512), **kwargs)


@register_model
def cnn14(**kwargs) -> PannsCnn:
    """Cnn14: six blocks of two 3x3 convs (64-2048), 80.8 M parameters; the main PANNs model."""
    return _cnn14("cnn14", "Cnn14", **kwargs)


@register_model
def cnn14_16k(**kwargs) -> PannsCnn:
    """Cnn14 on 16 kHz input (n_fft 512, hop 160, fmax 8 kHz)."""
    kwargs.setdefault("sample_rate", 16000)
    return _cnn14("cnn14_16k", "Cnn14_16k", **kwargs)


@register_model
def cnn14_8k(**kwargs) -> PannsCnn:
    """Cnn14 on 8 kHz input (n_fft 256, hop 80, fmax 4 kHz)."""
    kwargs.setdefault("sample_rate", 8000)
    return _cnn14("cnn14_8k", "Cnn14_8k", **kwargs)


@register_model
def cnn14_decision_level_max(**kwargs) -> PannsCnn:
    """Cnn14 classifying every frame, clip score = max over frames (sound event detection)."""
    return _cnn14("cnn14_decision_level_max", "Cnn14_DecisionLevelMax", pooling="max", **kwargs)


@register_model
def cnn14_decision_level_avg(**kwargs) -> PannsCnn:
    """Cnn14 classifying every frame, clip probability = mean over frames."""
    return _cnn14("cnn14_decision_level_avg", "Cnn14_DecisionLevelAvg", pooling="avg", **kwargs)


@register_model
def cnn14_decision_level_att(**kwargs) -> PannsCnn:
    """Cnn14 classifying every frame, clip probability = attention-weighted mean over frames."""
    return _cnn14("cnn14_decision_level_att", "Cnn14_DecisionLevelAtt", pooling="att", **kwargs)


# -- the ablations of the paper (section IV): Cnn14 with one hyper-parameter changed ------------


@register_model
def cnn14_emb512(**kwargs) -> PannsCnn:
    """Cnn14 with a 512-d embedding (``fc1`` 2048 -> 512; the classifier reads it)."""
    return _cnn14("cnn14_emb512", "Cnn14_emb512", embedding_dim=512, **kwargs)


@register_model
def cnn14_emb128(**kwargs) -> PannsCnn:
    """Cnn14 with a 128-d embedding (``fc1`` 2048 -> 128; the classifier reads it)."""
    return _cnn14("cnn14_emb128", "Cnn14_emb128", embedding_dim=128, **kwargs)


@register_model
def cnn14_emb32(**kwargs) -> PannsCnn:
    """Cnn14 with a 32-d embedding (``fc1`` 2048 -> 32; the classifier reads it)."""
    return _cnn14("cnn14_emb32", "Cnn14_emb32", embedding_dim=32, **kwargs)


@register_model
def cnn14_mel32(**kwargs) -> PannsCnn:
    """Cnn14 on a 32-bin log-mel (SpecAugment frequency stripes of up to 4 bins)."""
    return _cnn14("cnn14_mel32", "Cnn14_mel32", n_mels=32, **kwargs)


@register_model
def cnn14_mel128(**kwargs) -> PannsCnn:
    """Cnn14 on a 128-bin log-mel (SpecAugment frequency stripes of up to 16 bins)."""
    return _cnn14("cnn14_mel128", "Cnn14_mel128", n_mels=128, **kwargs)


@register_model
def cnn14_no_specaug(**kwargs) -> PannsCnn:
    """Cnn14 trained without SpecAugment."""
    return _cnn14("cnn14_no_specaug", "Cnn14_no_specaug", spec_augment=False, **kwargs)


@register_model
def cnn14_no_dropout(**kwargs) -> PannsCnn:
    """Cnn14 without the dropout after each conv block; as in the original ``Cnn14_no_dropout``,
    the 0.5 dropout before and after ``fc1`` stays."""
    return _cnn14("cnn14_no_dropout", "Cnn14_no_dropout", conv_dropout=0.0, **kwargs)


@register_model
def cnn14_mixup_time_domain(**kwargs) -> PannsCnn:
    """Cnn14 trained with mixup on the waveform instead of the log-mel. The network is Cnn14's:
    where mixup acts is a training setting (``--mixup-on waveform`` or ``logmel``), so only the
    checkpoint name differs."""
    return _cnn14("cnn14_mixup_time_domain", "Cnn14_mixup_time_domain", **kwargs)


@register_model
def test_cnn(**kwargs) -> PannsCnn:
    """Test-size Cnn (two narrow blocks) for fast unit tests of everything around the models."""
    return _cnn("test_cnn", "", channels=(8, 16), **kwargs)


@register_model
def test_cnn_sed(**kwargs) -> PannsCnn:
    """Test-size decision-level (max) Cnn."""
    return _cnn("test_cnn_sed", "", channels=(8, 16), pooling="max", **kwargs)
