"""The compact CNNs' front-end options: level and channel normalisation, cepstral liftering."""

import numpy as np
import pytest
import torch

from audiocnn.models import create_model

SR = 16000


def _speechlike(seed=0, seconds=1.0):
    """A harmonic tone (f0 150 Hz) with a syllable envelope, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * 150 * h * t) / h for h in range(1, 25)) * np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    return torch.from_numpy((0.3 * x + 0.01 * rng.standard_normal(t.shape)).astype(np.float32))[None]


def _frontend(model, x):
    model.eval()
    with torch.no_grad():
        # bn0 at its initial statistics is an identity up to eps: compare what the convs would see
        return model.frontend(x)


def test_level_norm_makes_the_frontend_gain_invariant():
    m = create_model("cnn6_lite", num_classes=3)
    x = _speechlike()
    a, b = _frontend(m, x), _frontend(m, 0.05 * x)  # -26 dB
    assert (a - b).abs().max().item() < 1e-2
    plain = create_model("cnn6_lite", num_classes=3, level_norm=False)
    assert (_frontend(plain, x) - _frontend(plain, 0.05 * x)).abs().max().item() > 10  # 26 dB shift


def test_channel_norm_removes_a_fixed_channel_response():
    m = create_model("cnn6_lite_speech", num_classes=3)
    x = _speechlike()
    # a first-order high-pass (a different microphone): a fixed per-bin dB offset in the log-mel
    y = torch.cat([x[:, :1], x[:, 1:] - 0.9 * x[:, :-1]], dim=1)
    a, b = _frontend(m, x), _frontend(m, y)
    active = (a > -59).float()
    assert ((a - b).abs() * active).sum().item() / active.sum().item() < 1.0  # dB, mean over active cells
    no_norm = create_model("cnn6_lite", num_classes=3)
    a0, b0 = _frontend(no_norm, x), _frontend(no_norm, y)
    assert ((a0 - b0).abs() * active).sum().item() / active.sum().item() > 3.0


def test_lifter_keeps_the_envelope_and_drops_pitch_harmonics():
    full = create_model("cnn6_lite_speech", num_classes=3)
    same = create_model("cnn6_lite_speech", num_classes=3, lifter=64)
    smooth = create_model("cnn6_lite_speech", num_classes=3, lifter=12)
    x = _speechlike()
    a = _frontend(full, x)
    torch.testing.assert_close(_frontend(same, x), a, atol=1e-3, rtol=0)  # all coefficients kept = identity
    s = _frontend(smooth, x)
    # the projection is idempotent and removes what varies fast along the mel axis
    again = s @ smooth.lifter_projection
    torch.testing.assert_close(again, s, atol=1e-3, rtol=0)

    def roughness(z):  # energy of the second difference along mel bins, active frames
        return z.diff(n=2, dim=-1).pow(2).mean().item()

    assert roughness(s) < 0.3 * roughness(a)
    assert "lifter_projection" not in smooth.state_dict()  # checkpoints stay loadable across the option
    with pytest.raises(ValueError, match="lifter"):
        create_model("cnn6_lite_speech", num_classes=3, lifter=65)



def test_width_scales_every_block():
    base = create_model("cnn6_lite_speech", num_classes=3)
    wide = create_model("cnn6_lite_speech", num_classes=3, width=1.5)
    chans = lambda m: [getattr(m, f"conv_block{i}").conv1.out_channels for i in range(1, 5)]  # noqa: E731
    assert chans(base) == [16, 32, 64, 128]
    assert chans(wide) == [24, 48, 96, 192]
    with torch.no_grad():
        assert wide.eval()(_speechlike())["logits"].shape == (1, 3)
    with pytest.raises(ValueError, match="width"):
        create_model("cnn6_lite_speech", num_classes=3, width=0)


def test_clip_stats_path_adds_the_mfcc_statistics_logits():
    torch.manual_seed(0)
    m = create_model("cnn6_lite", num_classes=4, clip_stats=8).eval()
    plain = create_model("cnn6_lite", num_classes=4).eval()
    assert {"stats_bn.weight", "stats_fc.weight"} <= set(m.state_dict())
    assert not any(k.startswith("stats_") for k in plain.state_dict())  # off by default: the PANNs layout
    x = torch.cat([_speechlike(0), _speechlike(1)])
    s = m.clip_statistics(x)
    assert s.shape == (2, 48)
    # the statistics of a frame-wise DCT of the log-mel: recompute them by hand
    logmel = m.logmel_extractor(x)
    logmel = logmel - logmel.amax(dim=(1, 2), keepdim=True)
    n = logmel.shape[-1]
    k, j = np.meshgrid(np.arange(8), np.arange(n))
    dct = torch.from_numpy(np.sqrt(2.0 / n) * np.cos(np.pi * k * (2 * j + 1) / (2 * n))).float()
    dct[:, 0] /= np.sqrt(2.0)
    c = logmel @ dct
    assert torch.allclose(s[:, :8], c.mean(dim=1), atol=1e-3)
    assert torch.allclose(s[:, 24:32], c.std(dim=1, unbiased=False), atol=1e-3)
    # the logits are the CNN's plus the statistics path's, and only the statistics path's
    # classifier changes them when the CNN is left alone
    with torch.no_grad():
        base = m(x)["logits"]
        m.stats_fc.bias += 1.0
        assert torch.allclose(m(x)["logits"], base + 1.0, atol=1e-5)
    m.reset_classifier(2)
    assert m(x)["logits"].shape == (2, 2) and m.stats_fc.out_features == 2
    with pytest.raises(ValueError, match="clip_stats"):
        create_model("cnn6_lite", num_classes=4, clip_stats=65)


def test_clip_stats_model_round_trips_through_a_checkpoint(tmp_path):
    from audiocnn.models import ModelBundle, load_model, save_checkpoint

    m = create_model("cnn6_lite", num_classes=3, clip_stats=4).eval()
    bundle = ModelBundle.for_model(m, labels=("a", "b", "c"), model_args={"clip_stats": 4})
    save_checkpoint(m, tmp_path / "m.pth", bundle)
    loaded, _ = load_model(tmp_path / "m.pth")
    x = _speechlike()
    with torch.no_grad():
        assert torch.allclose(loaded(x)["logits"], m(x)["logits"], atol=1e-6)


def test_freq_bands_keep_the_band_averages_of_the_conv_map(tmp_path):
    from audiocnn.models import ModelBundle, load_model, save_checkpoint

    torch.manual_seed(0)
    banded = create_model("cnn6_lite", num_classes=3, freq_bands=4).eval()
    plain = create_model("cnn6_lite", num_classes=3).eval()
    assert banded.fc1.in_features == 4 * plain.fc1.in_features
    # the same convolutions: the banded frame features are the plain ones split into 4 bands
    plain.load_state_dict({k: v for k, v in banded.state_dict().items() if not k.startswith("fc1.")}, strict=False)
    x = torch.cat([_speechlike(0), _speechlike(1)])
    with torch.no_grad():
        f, f1 = banded.forward_conv(x), plain.forward_conv(x)
        assert f.shape == (2, 4 * f1.shape[1], f1.shape[2])
        per_band = f.view(2, f1.shape[1], 4, -1)
        torch.testing.assert_close(per_band.mean(dim=2), f1, atol=1e-5, rtol=0)
        assert (per_band - per_band.mean(dim=2, keepdim=True)).abs().max() > 1e-3  # the bands differ
        conv = banded.conv_map(x)  # band j of channel c = the mean of frequency bin j of the map (4 bins)
        torch.testing.assert_close(per_band, conv.permute(0, 1, 3, 2), atol=1e-6, rtol=0)
    bundle = ModelBundle.for_model(banded, labels=("a", "b", "c"), model_args={"freq_bands": 4})
    save_checkpoint(banded, tmp_path / "m.pth", bundle)
    loaded, _ = load_model(tmp_path / "m.pth")
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["logits"], banded(x)["logits"], atol=1e-6, rtol=0)
    for bad in (0, 5):  # 64 mel bins leave 4 after the four 2x2 poolings
        with pytest.raises(ValueError, match="freq_bands"):
            create_model("cnn6_lite", num_classes=3, freq_bands=bad)
    assert create_model("cnn6_lite", num_classes=3, n_mels=128, freq_bands=8).fc1.in_features == 8 * 128


def test_cnn10_lite_is_cnn_tiny_with_the_light_regularisation():
    lite = create_model("cnn10_lite", num_classes=3)
    tiny = create_model("cnn_tiny", num_classes=3)
    # the same layers (PANNs Cnn10 names: two 3x3 convs per block), so the same weights load
    assert {k: v.shape for k, v in lite.state_dict().items()} == {k: v.shape for k, v in tiny.state_dict().items()}
    assert lite.conv_block2.conv2.weight.shape == (32, 32, 3, 3)
    tiny.load_state_dict(lite.state_dict())
    x = torch.cat([_speechlike(0), _speechlike(1)])
    with torch.no_grad():
        torch.testing.assert_close(lite.eval()(x)["logits"], tiny.eval()(x)["logits"], atol=0, rtol=0)
    # what differs is training: no conv dropout, fc dropout 0.2 and no SpecAugment
    assert (lite.conv_dropout, lite.fc_dropout) == (0.0, 0.2) and (tiny.conv_dropout, tiny.fc_dropout) == (0.2, 0.5)
    assert isinstance(lite.spec_augmenter, torch.nn.Identity) and not isinstance(tiny.spec_augmenter, torch.nn.Identity)
    lite.train()
    torch.manual_seed(0)
    a = lite.frontend(x)
    torch.manual_seed(1)
    torch.testing.assert_close(lite.frontend(x), a)  # nothing random before the convolutions
