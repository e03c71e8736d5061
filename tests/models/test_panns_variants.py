"""The PANNs ablation and pooling variants, checked without the original code.

Kong et al. 2020 (PANNs, TASLP), section IV, and the original ``pytorch/models.py`` define each
variant by one change to Cnn14. Here: the registered full-size variants are built on the meta
device (shapes and settings only, no weights) and their defining settings compared with the
published ones; the behaviour each setting implies is checked on test-size models of the same
class (``test_cnn`` / :class:`Wavegram` with the variant's argument). Output parity with the
original code is ``test_panns_parity.py``; the state-dict layouts are ``test_checkpoints.py``.
"""

from __future__ import annotations

import pytest
import torch

import audiocnn
from audiocnn.features.augment import SpecAugment
from audiocnn.models import ModelInfo
from audiocnn.models.panns_wavegram import Wavegram


def _meta(name: str):
    with torch.device("meta"):
        return audiocnn.create_model(name)


def _tiny(seconds: float = 1.0, batch: int = 2, sample_rate: int = 32000, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.3 * torch.randn(batch, int(seconds * sample_rate), generator=g)


def _randomise_bn(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BatchNorm statistics, so that eval-mode outputs vary across frames/classes."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.num_features, generator=g))


# --------------------------------------------------------------------------------------------
# the registered variants: their defining settings (published values)


@pytest.mark.parametrize("name, dim", [("cnn14_emb512", 512), ("cnn14_emb128", 128), ("cnn14_emb32", 32)])
def test_embedding_variants_have_a_narrow_fc1_that_the_head_reads(name, dim):
    model = _meta(name)
    assert (model.fc1.in_features, model.fc1.out_features) == (2048, dim)
    assert model.fc_audioset.in_features == dim
    assert model.embedding_dim == dim


@pytest.mark.parametrize("name, bins, freq_stripe", [("cnn14_mel32", 32, 4), ("cnn14_mel128", 128, 16), ("cnn14", 64, 8)])
def test_mel_variants_have_their_bin_count_and_stripe_width(name, bins, freq_stripe):
    model = _meta(name)
    assert tuple(model.logmel_extractor.melW.shape) == (513, bins)
    assert model.bn0.num_features == bins
    assert model.spec_augmenter.freq_drop_width == freq_stripe  # original: 4 / 8 / 16


def test_no_specaug_and_no_dropout_variants():
    assert not isinstance(_meta("cnn14_no_specaug").spec_augmenter, SpecAugment)
    assert isinstance(_meta("cnn14").spec_augmenter, SpecAugment)
    nd = _meta("cnn14_no_dropout")
    # the original Cnn14_no_dropout drops the 0.2 dropout after each conv block, keeps the head's 0.5
    assert nd.conv_dropout == 0.0 and nd.fc_dropout == 0.5
    assert isinstance(nd.spec_augmenter, SpecAugment)


def test_mixup_time_domain_is_cnn14_with_another_checkpoint_name():
    a, b = _meta("cnn14_mixup_time_domain"), _meta("cnn14")
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}
    assert a.info.checkpoint_class == "Cnn14_mixup_time_domain"
    assert isinstance(a.spec_augmenter, SpecAugment) and a.conv_dropout == b.conv_dropout


@pytest.mark.parametrize("name, rate, n_fft, hop, fmax", [("cnn14_16k", 16000, 512, 160, 8000.0), ("cnn14_8k", 8000, 256, 80, 4000.0)])
def test_low_rate_variants_use_the_released_front_ends(name, rate, n_fft, hop, fmax):
    model = _meta(name)
    ext = model.logmel_extractor
    assert model.sample_rate == rate and (ext.n_fft, ext.hop_length) == (n_fft, hop)
    assert model.info.frame_rate == 100.0
    # the filterbank covers 50 Hz .. fmax: no weight above fmax, the top filter reaches it
    freqs = torch.arange(n_fft // 2 + 1) * rate / n_fft
    used = freqs[(ext.melW > 0).any(dim=1)]
    assert used.max() <= fmax and used.max() > fmax - 2 * rate / n_fft
    assert used.min() >= 50.0 - rate / n_fft


@pytest.mark.parametrize("name, pooling", [("cnn14_decision_level_avg", "avg"), ("cnn14_decision_level_att", "att")])
def test_decision_level_variants_are_frame_level(name, pooling):
    model = _meta(name)
    assert model.info.frame_level and model.pooling == pooling
    assert model.info.classifier == ("att_block" if pooling == "att" else "fc_audioset")


def test_wavegram_logmel128_has_a_64_bin_wavegram():
    model = _meta("wavegram_logmel128_cnn14")
    assert model.bn0.num_features == 128 and model.spec_augmenter.freq_drop_width == 16
    assert model.wavegram_bins == 64 and model.pre_block4.conv1.in_channels == 4  # 256 channels = 4 x 64 bins
    assert model.conv_block2.conv1.in_channels == 128  # 64 log-mel + 64 Wavegram channels


# --------------------------------------------------------------------------------------------
# what the settings do (test-size models of the same classes)


def test_embedding_dim_sets_the_embedding_the_head_reads():
    model = audiocnn.create_model("test_cnn", num_classes=3, embedding_dim=4).eval()
    _randomise_bn(model)
    x = _tiny()
    with torch.no_grad():
        out = model(x)
        assert out["embedding"].shape == (2, 4) and model.embedding_dim == 4
        # eval mode: the embedding is the classifier's input
        torch.testing.assert_close(out["logits"], out["embedding"] @ model.fc_audioset.weight.T + model.fc_audioset.bias)
        torch.testing.assert_close(model.forward_head(model.forward_features(x)), out["logits"])


def test_n_mels_sets_the_log_mel_bins():
    model = audiocnn.create_model("test_cnn", num_classes=3, n_mels=32).eval()
    x = _tiny(batch=1)
    with torch.no_grad():
        assert model.frontend(x).shape == (1, 1, 1 + x.shape[1] // 320, 32)
        assert model(x)["logits"].shape == (1, 3)
    with pytest.raises(ValueError, match="n_mels must be >= 8"):
        audiocnn.create_model("test_cnn", n_mels=4)


def _train_outputs(model, x, runs: int = 2) -> list[torch.Tensor]:
    model.train()
    outs = []
    for seed in range(runs):
        torch.manual_seed(seed)
        with torch.no_grad():
            outs.append(model.forward_conv(x))
    return outs


@pytest.mark.parametrize("setting, off, on", [("spec_augment", False, True), ("conv_dropout", 0.0, 0.2)])
def test_switched_off_augmentation_leaves_nothing_random_in_training(setting, off, on):
    """``spec_augment=False`` (cnn14_no_specaug) never masks, ``conv_dropout=0`` (cnn14_no_dropout)
    never drops: with the other one off too, training-mode features repeat exactly."""
    x = _tiny(seconds=2.0)
    quiet = {"spec_augment": False, "conv_dropout": 0.0}
    plain = audiocnn.create_model("test_cnn", **{**quiet, setting: off})
    a, b = _train_outputs(plain, x)
    torch.testing.assert_close(a, b)
    noisy = audiocnn.create_model("test_cnn", **{**quiet, setting: on})
    noisy.load_state_dict(plain.state_dict())
    a, b = _train_outputs(noisy, x)
    assert not torch.allclose(a, b)


def _whole_segments(model) -> torch.Tensor:
    """An input whose frame count is a multiple of the model's time pooling, so that the
    frame-wise output repeats each segment exactly ``time_ratio`` times."""
    ratio = model.time_ratio
    frames = 40 * ratio
    return _tiny(seconds=2.0, batch=2)[:, : (frames - 1) * 320]


def _frame_level_outputs(pooling: str) -> dict[str, torch.Tensor]:
    model = audiocnn.create_model("test_cnn", num_classes=5, pooling=pooling).eval()
    _randomise_bn(model)
    x = _whole_segments(model)
    with torch.no_grad():
        out = model(x)
    assert out["framewise_logits"].shape[1] == 1 + x.shape[1] // 320
    return out


def test_decision_level_avg_clip_probability_is_the_mean_over_frames():
    out = _frame_level_outputs("avg")
    frame_prob = torch.sigmoid(out["framewise_logits"])
    assert frame_prob.std(dim=1).max() > 1e-3, "frame probabilities do not vary: the check would be vacuous"
    torch.testing.assert_close(torch.sigmoid(out["logits"]), frame_prob.mean(dim=1), rtol=1e-5, atol=1e-6)
    # and not the max over frames
    assert not torch.allclose(torch.sigmoid(out["logits"]), frame_prob.amax(dim=1), atol=1e-4)


def test_decision_level_max_clip_score_is_the_max_over_frames():
    out = _frame_level_outputs("max")
    torch.testing.assert_close(out["logits"], out["framewise_logits"].amax(dim=1))


def test_decision_level_att_pools_frames_with_softmax_attention():
    model = audiocnn.create_model("test_cnn", num_classes=5, pooling="att").eval()
    _randomise_bn(model)
    with torch.no_grad():
        model.att_block.att.weight.normal_(0, 0.5)
        model.att_block.cla.weight.normal_(0, 0.5)
    seen = {}

    def keep_input(module, inputs, output):
        seen["h"] = inputs[0]  # returns None: the output is left as it is

    model.att_block.register_forward_hook(keep_input)
    x = _whole_segments(model)
    with torch.no_grad():
        out = model(x)
        h = seen["h"]  # (batch, embedding, segments)
        att = torch.einsum("oc,bct->bot", model.att_block.att.weight[:, :, 0], h) + model.att_block.att.bias[:, None]
        cla = torch.einsum("oc,bct->bot", model.att_block.cla.weight[:, :, 0], h) + model.att_block.cla.bias[:, None]
    weights = torch.softmax(att.clamp(-10, 10), dim=2)
    assert weights.std(dim=2).max() > 1e-3, "uniform attention: the check would not tell it from the mean"
    expected = (weights * torch.sigmoid(cla)).sum(dim=2)
    torch.testing.assert_close(torch.sigmoid(out["logits"]), expected, rtol=1e-5, atol=1e-6)
    # frame-wise output: the classifier branch of every segment, repeated over its frames
    ratio = model.time_ratio
    torch.testing.assert_close(out["framewise_logits"][:, ::ratio], cla.transpose(1, 2))


def test_wavegram_with_128_mel_bins_and_64_wavegram_bins():
    info = ModelInfo(name="tiny_wavegram128", input="", sample_rate=0)
    model = Wavegram(info, channels=(8, 16, 16), pre_channels=(8, 8, 8, 64), wavegram_bins=64, n_mels=128, num_classes=3).eval()
    x = _tiny(batch=2)
    with torch.no_grad():
        assert model.frontend(x).shape[-1] == 128
        wave = model.wavegram(x)
        assert wave.shape[1] == 8 and wave.shape[-1] == 64
        assert model(x)["logits"].shape == (2, 3)
    with pytest.raises(ValueError, match=r"wavegram_bins must be n_mels // 2 = 64, got 32"):
        Wavegram(info, channels=(8, 16, 16), pre_channels=(8, 8, 8, 64), wavegram_bins=32, n_mels=128)
