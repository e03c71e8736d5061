"""Compact CNNs for small datasets on a CPU: narrow PANNs-style Cnn stacks at 16 or 8 kHz.

The PANNs models were sized for 2 million AudioSet clips; trained from scratch on a few hundred
or thousand clips on a 2-core CPU they are slow and over-parameterised. These variants keep the
PANNs recipe (log-mel front-end, BatchNorm on mel bins, conv blocks with average pooling,
max + mean pooling over time, ``fc1``, linear head) with fewer channels and a SpecAugment sized
for clips of one to a few seconds (PANNs drops stripes of up to 64 frames, which is most of a
one-second clip). ``cnn10_lite`` is the default model of ``audiocnn train``; see
``docs/training.md`` for the measurements behind the choice.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from audiocnn.features.augment import MixPlan, SpecAugment
from audiocnn.features.mfcc import MFCC, masked_mfcc_stats
from audiocnn.features.spectrogram import LogMel, dct_matrix
from audiocnn.models._registry import register_model
from audiocnn.models.base import ModelInfo, init_bn, init_layer
from audiocnn.models.panns import PannsCnn

__all__ = ["CompactCnn"]

_REF = "narrow variant of the PANNs Cnn (Kong et al. 2020), this toolkit"


class CompactCnn(PannsCnn):
    """A :class:`~audiocnn.models.panns.PannsCnn` with a short-clip SpecAugment.

    Args:
        hop_size: frame hop in samples; replaces ``hop_ms`` when given.
        hop_ms: frame hop in milliseconds (PANNs: 10). 20 ms halves the cost of every layer and
            still resolves speech and most sound events.
        n_mels: mel bins (PANNs: 64).
        time_drop_width / freq_drop_width: largest SpecAugment stripe (frames / mel bins); 2
            stripes each.
        level_norm: subtract each clip's maximum log-mel value (dB) before ``bn0``, which makes
            the network invariant to the recording level (a gain is a constant dB shift).
            Without it, models trained on a few speakers or microphones learn their levels:
            on FSDD, leave-one-speaker-out, speakers differ by up to 20 dB in RMS.
        channel_norm: subtract each mel bin's mean over the clip's active frames (within 60 dB
            of its maximum) -- cepstral mean normalisation in the log-mel domain, which removes
            a fixed microphone/channel response; inactive (silent, padded) frames are set to
            -60. Implies a per-clip level reference.
        freq_shift: in training, roll each clip's log-mel by a random integer in
            ``[-freq_shift, freq_shift]`` mel bins (a cheap vocal-tract-length perturbation).
        lifter: if > 0, keep only the first ``lifter`` DCT coefficients of every log-mel frame
            (cepstral liftering, the smoothing behind MFCCs): the spectral envelope (formants)
            stays, the harmonics of the voice's pitch go; 0 = off.
        clip_stats: if > 0, a second, linear path beside the convolutions: the first
            ``clip_stats`` cepstral coefficients of every frame of the level-normalised log-mel
            (no SpecAugment), with their first and second differences over time, each summarised
            by its mean and standard deviation over the clip (``6 * clip_stats`` values, the
            features of the classic MFCC-statistics classifier), standardised by a BatchNorm and
            mapped to class logits that are added to the CNN's (``stats_bn``, ``stats_fc``). It
            gives a model trained on a few hundred clips the clip-level timbre summary a CNN
            needs many examples to learn; 0 = off (the PANNs layout).
        stats_head: if > 0, a second classifier fused late with the CNN: a multinomial
            logistic regression on MFCC statistics (or on ``head_features`` random Fourier features of
            them, below; ``stats_head`` MFCCs with deltas and
            delta-deltas, mean and standard deviation over the window's active frames, so
            zero padding does not count; ``6 * stats_head`` values;
            :class:`audiocnn.features.mfcc.MFCC`), fitted after the CNN is trained, on the
            windows of the training files (:mod:`audiocnn.train.stats_head`),
            and held in the buffers ``head_mean``, ``head_scale``, ``head_weight``,
            ``head_bias`` and ``head_share``. In eval mode the logits are
            ``log((1 - s) softmax(cnn) + s softmax(head))`` with ``s = head_share`` (0 until
            the head is fitted: the CNN alone), so a softmax of them gives the fused
            probabilities. Single-label models; 0 = off.
        head_features: with ``stats_head``, the head's input: 0 = the standardised statistics
            (a linear classifier), N > 0 = N random Fourier features of them,
            ``sqrt(2 / N) cos(z @ head_projection + head_phase)`` (an approximation of an RBF
            kernel, so the logistic regression draws curved class boundaries; the projection is
            drawn when the head is fitted, scaled by the chosen kernel width, and kept in the
            buffers ``head_projection`` and ``head_phase``).
        freq_bands: how many frequency bands of the last conv block's map reach ``fc1``: 1 (the
            PANNs layout) averages the map over frequency; N > 1 averages it within N bands
            (adaptive average pooling: equal bands when N divides the bins, overlapping by a bin
            otherwise) and stacks them as channels (``channels[-1] * N`` inputs to ``fc1``), so the
            classifier also sees in which part of the spectrum a pattern lies (``n_mels`` / 16
            bands after the four 2x2 poolings is the finest). Measured in docs/results.md.
        other arguments: as :class:`~audiocnn.models.panns.PannsCnn` (``sample_rate`` 8000,
            16000 or 32000 picks the PANNs window and mel range of that rate).
    """

    def __init__(
        self,
        info: ModelInfo,
        *,
        hop_ms: float = 10.0,
        n_mels: int = 64,
        time_drop_width: int = 16,
        freq_drop_width: int = 8,
        spec_augment: bool = True,
        level_norm: bool = True,
        channel_norm: bool = False,
        freq_shift: int = 0,
        lifter: int = 0,
        clip_stats: int = 0,
        stats_head: int = 0,
        head_features: int = 0,
        hop_size: int | None = None,
        freq_bands: int = 1,
        **kwargs,
    ):
        super().__init__(info, spec_augment=False, **kwargs)
        bins = n_mels
        for _, f in self.pool_sizes:
            bins //= f
        if not 1 <= freq_bands <= bins:
            raise ValueError(f"freq_bands must be in [1, {bins}] (the last conv block's frequency bins for n_mels={n_mels}), got {freq_bands}")
        self.freq_bands = freq_bands
        if freq_bands > 1:
            emb = self.fc1.out_features
            self.fc1 = nn.Linear(self.fc1.in_features * freq_bands, emb, bias=True)
            init_layer(self.fc1)
        self.level_norm = level_norm
        self.channel_norm = channel_norm
        self.freq_shift = freq_shift
        if not 0 <= lifter <= n_mels:
            raise ValueError(f"lifter must be in [0, n_mels={n_mels}], got {lifter}")
        self.lifter = lifter
        if lifter:
            d = dct_matrix(n_mels, lifter)  # (n_mels, lifter), orthonormal columns
            self.register_buffer("lifter_projection", d @ d.T, persistent=False)
        sr = self.info.sample_rate
        base = self.logmel_extractor  # the PannsCnn front-end: window and mel range (window_size, fmin, fmax)
        n_fft, fmin, fmax = base.n_fft, base.f_min, base.f_max
        hop = hop_size or int(round(sr * hop_ms / 1000))
        self.logmel_extractor = LogMel(sr, n_fft, hop, n_mels, fmin, fmax)
        self.bn0 = nn.BatchNorm2d(n_mels)
        init_bn(self.bn0)
        self.spec_augmenter = SpecAugment(time_drop_width, 2, freq_drop_width, 2) if spec_augment else nn.Identity()
        if not 0 <= clip_stats <= n_mels:
            raise ValueError(f"clip_stats must be in [0, n_mels={n_mels}], got {clip_stats}")
        self.clip_stats = clip_stats
        if clip_stats:
            self.register_buffer("stats_dct", dct_matrix(n_mels, clip_stats), persistent=False)
            self.stats_bn = nn.BatchNorm1d(6 * clip_stats)
            init_bn(self.stats_bn)
            self.stats_fc = nn.Linear(6 * clip_stats, self.num_classes)
            init_layer(self.stats_fc)
        if not 0 <= stats_head <= n_mels:
            raise ValueError(f"stats_head must be in [0, n_mels={n_mels}], got {stats_head}")
        self.stats_head = stats_head
        if head_features < 0:
            raise ValueError(f"head_features must be >= 0, got {head_features}")
        self.head_features = head_features if stats_head else 0
        if stats_head:
            dim = 6 * stats_head
            self.head_mfcc = MFCC(sr, n_mfcc=stats_head)
            self.register_buffer("head_mean", torch.zeros(dim))
            self.register_buffer("head_scale", torch.ones(dim))
            if self.head_features:
                self.register_buffer("head_projection", torch.zeros(dim, self.head_features))
                self.register_buffer("head_phase", torch.zeros(self.head_features))
            self.register_buffer("head_weight", torch.zeros(self.num_classes, self.head_features or dim))
            self.register_buffer("head_bias", torch.zeros(self.num_classes))
            self.register_buffer("head_share", torch.zeros(()))
        self.info = ModelInfo(
            **{
                **self.info.to_dict(),
                "frame_rate": sr / hop,
                "min_samples": max((self.time_ratio - 1) * hop, n_fft // 2 + 1),
            }
        )


    def frontend(self, waveform: torch.Tensor, mixup: MixPlan | None = None) -> torch.Tensor:
        """``(batch, samples)`` -> level-normalised log-mel ``(batch, 1, frames, mel_bins)``, mixed
        by ``mixup`` after SpecAugment when given."""
        x = self.logmel_extractor(self.check_input(waveform))[:, None]
        if self.level_norm or self.channel_norm:
            x = x - x.amax(dim=(2, 3), keepdim=True)
        if self.channel_norm:
            active = x.amax(dim=3, keepdim=True) > -60.0  # (batch, 1, frames, 1)
            w = active.to(x.dtype)
            mean = (x * w).sum(dim=2, keepdim=True) / w.sum(dim=2, keepdim=True).clamp(min=1.0)
            x = torch.where(active, x - mean, torch.full_like(x, -60.0))
        if self.lifter:
            x = x @ self.lifter_projection
        if self.training and self.freq_shift > 0:
            shifts = torch.randint(-self.freq_shift, self.freq_shift + 1, (x.shape[0],)).tolist()
            x = torch.stack([torch.roll(xi, s, dims=-1) for xi, s in zip(x, shifts)])
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        x = self.spec_augmenter(x)
        return x if mixup is None else mixup(x)

    def forward_conv(self, waveform: torch.Tensor, mixup: MixPlan | None = None) -> torch.Tensor:
        """As :meth:`PannsCnn.forward_conv`; with ``freq_bands`` N > 1 the frame features are
        ``(batch, channels * N, time')``, channel-major (band ``j`` of channel ``c`` at ``c * N + j``)."""
        if self.freq_bands == 1:
            return super().forward_conv(waveform, mixup)
        x = self.conv_map(waveform, mixup)
        b, c, t, _ = x.shape
        x = F.adaptive_avg_pool2d(x, (t, self.freq_bands))  # (b, c, t, bands)
        return x.permute(0, 1, 3, 2).reshape(b, c * self.freq_bands, t)

    def clip_statistics(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` -> ``(batch, 6 * clip_stats)``: mean and standard deviation over
        time of the cepstral coefficients of the level-normalised log-mel and of their first and
        second differences (the ``clip_stats`` path; see the class docstring)."""
        x = self.logmel_extractor(self.check_input(waveform))  # (batch, frames, mel_bins)
        x = x - x.amax(dim=(1, 2), keepdim=True)
        c = x @ self.stats_dct  # (batch, frames, clip_stats)
        d1 = torch.diff(c, dim=1, prepend=c[:, :1])
        d2 = torch.diff(d1, dim=1, prepend=d1[:, :1])
        parts = [c, d1, d2]
        return torch.cat([p.mean(dim=1) for p in parts] + [p.std(dim=1, unbiased=False) for p in parts], dim=1)

    def head_statistics(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` -> ``(batch, 6 * stats_head)``: the features of the ``stats_head``
        classifier, before its standardisation."""
        if not self.stats_head:
            raise ValueError("this model has no stats_head (create it with stats_head > 0)")
        return masked_mfcc_stats(*self.head_mfcc.with_activity(self.check_input(waveform)))

    def head_logits(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` -> ``(batch, classes)`` logits of the ``stats_head`` classifier."""
        return self.head_classify(self.head_statistics(waveform))

    def head_classify(self, statistics: torch.Tensor) -> torch.Tensor:
        """``(batch, 6 * stats_head)`` statistics (:meth:`head_statistics`) -> ``(batch, classes)``
        logits of the ``stats_head`` classifier."""
        z = (statistics - self.head_mean) / self.head_scale
        if self.head_features:
            z = torch.cos(z @ self.head_projection + self.head_phase) * (2.0 / self.head_features) ** 0.5
        return z @ self.head_weight.T + self.head_bias

    def forward(self, waveform: torch.Tensor, mixup: MixPlan | None = None) -> dict[str, torch.Tensor]:
        """As :meth:`PannsCnn.forward`, plus the ``clip_stats`` path's logits when it is on."""
        out = super().forward(waveform, mixup)
        if self.clip_stats:
            s = self.clip_statistics(waveform)
            s = self.stats_bn(s if mixup is None else mixup(s))
            s = F.dropout(s, p=self.fc_dropout, training=self.training)
            out["logits"] = out["logits"] + self.stats_fc(s)
        if self.stats_head and not self.training:
            share = self.head_share.clamp(0.0, 1.0)
            cnn = F.log_softmax(out["logits"], dim=-1) + torch.log1p(-share)
            head = F.log_softmax(self.head_logits(waveform), dim=-1) + torch.log(share)
            out["logits"] = torch.logaddexp(cnn, head)
        return out

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        if self.clip_stats or self.stats_head:
            raise NotImplementedError("with clip_stats or stats_head the logits also read the clip statistics; call forward()")
        return super().forward_head(features)

    def reset_classifier(self, num_classes: int) -> None:
        super().reset_classifier(num_classes)
        if self.clip_stats:
            self.stats_fc = nn.Linear(self.stats_fc.in_features, num_classes).to(self.stats_fc.weight.device)
            init_layer(self.stats_fc)
        if self.stats_head:  # a new task: the head is fitted again
            self.head_weight = self.head_weight.new_zeros(num_classes, self.head_weight.shape[1])
            self.head_bias = self.head_bias.new_zeros(num_classes)
            self.head_share.zero_()


def _compact(name: str, *, width: float = 1.0, **kwargs) -> CompactCnn:
    """``width`` scales every block's channel count (``--model-arg width=1.5``)."""
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    kwargs["channels"] = tuple(max(1, int(round(c * width))) for c in kwargs["channels"])
    kwargs.setdefault("sample_rate", 16000)
    info = ModelInfo(name=name, input="log-mel", sample_rate=0, reference=_REF)
    return CompactCnn(info, **kwargs)


@register_model
def cnn_small(**kwargs) -> CompactCnn:
    """Four blocks of two 3x3 convs (32-256 channels) at 16 kHz, 10 ms hop, about 1.2 M parameters."""
    return _compact("cnn_small", channels=(32, 64, 128, 256), **kwargs)


@register_model
def cnn_tiny(**kwargs) -> CompactCnn:
    """Four blocks of two 3x3 convs (16-128 channels) at 16 kHz, 20 ms hop, about 0.3 M parameters;
    """
    kwargs.setdefault("hop_ms", 20.0)
    kwargs.setdefault("time_drop_width", 8)
    return _compact("cnn_tiny", channels=(16, 32, 64, 128), **kwargs)


def _lite(name: str, **kwargs) -> CompactCnn:
    """A ``lite`` model: 16-128 channels, a 20-ms hop and light regularisation (no conv dropout,
    fc dropout 0.2, no SpecAugment), which lets it fit a few hundred clips (docs/training.md)."""
    kwargs.setdefault("hop_ms", 20.0)
    kwargs.setdefault("time_drop_width", 8)
    kwargs.setdefault("conv_dropout", 0.0)
    kwargs.setdefault("fc_dropout", 0.2)
    kwargs.setdefault("spec_augment", False)
    return _compact(name, channels=(16, 32, 64, 128), **kwargs)


@register_model
def cnn6_lite(**kwargs) -> CompactCnn:
    """Cnn6 layout (four 5x5 conv blocks) at a quarter of the width (16-128), 16 kHz, 20 ms hop,
    about 0.29 M parameters.

    Lightly regularised (no conv dropout, fc dropout 0.2, no SpecAugment): trained from scratch
    for a few minutes on a few hundred clips, the PANNs regularisation (0.2 / 0.5 + SpecAugment)
    kept it from fitting (docs/training.md)."""
    return _lite("cnn6_lite", kernel_size=5, num_convs=1, **kwargs)


@register_model
def cnn10_lite(**kwargs) -> CompactCnn:
    """Cnn10 layout (four blocks of two 3x3 convs) at a quarter of the width (16-128), 16 kHz,
    20 ms hop, about 0.31 M parameters; the default of ``audiocnn train``.

    Regularised as ``cnn6_lite`` (no conv dropout, fc dropout 0.2, no SpecAugment); ``cnn_tiny``
    is the same layout with the PANNs regularisation. Eight convolutions instead of four, at
    1.3-1.45 times ``cnn6_lite``'s training time (docs/results.md)."""
    return _lite("cnn10_lite", **kwargs)


@register_model
def cnn6_lite_speech(**kwargs) -> CompactCnn:
    """``cnn6_lite`` for speech: per-clip channel (cepstral-mean) normalisation of the log-mel and
    lighter dropout (0.1 conv, 0.2 fc). Channel normalisation removes each clip's average
    spectrum, so it suits speech from unseen speakers/microphones, not stationary sounds whose
    identity *is* their average spectrum."""
    kwargs.setdefault("hop_ms", 20.0)
    kwargs.setdefault("time_drop_width", 8)
    kwargs.setdefault("channel_norm", True)
    kwargs.setdefault("conv_dropout", 0.1)
    kwargs.setdefault("fc_dropout", 0.2)
    return _compact("cnn6_lite_speech", channels=(16, 32, 64, 128), kernel_size=5, num_convs=1, **kwargs)
