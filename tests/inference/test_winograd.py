"""Winograd F(2x2, 3x3) convolution of the bf16 path."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from audiocnn.inference.runtime import Runner
from audiocnn.inference.winograd import WinogradConv2d, use_winograd, winograd_conv3x3, winograd_weight
from audiocnn.models import create_model
from audiocnn.models.layers import ConvBlock

from inference_helpers import SR
from test_quantize import _clips, _randomised_bn


@pytest.mark.parametrize("shape", [(2, 5, 9, 6), (1, 3, 1, 1), (3, 8, 7, 5), (2, 4, 2, 9)])
def test_winograd_equals_direct_convolution_in_float(shape):
    """Odd and even sizes, 1x1 maps, with a bias: the tiling, padding and cropping are exact."""
    torch.manual_seed(0)
    n, c, h, w = shape
    conv = torch.nn.Conv2d(c, 7, 3, padding=1)
    x = torch.randn(shape, dtype=torch.float64)
    ref = F.conv2d(x, conv.weight.double(), conv.bias.double(), padding=1)
    y = winograd_conv3x3(x, winograd_weight(conv.weight, torch.float64), conv.bias.detach().double())
    assert y.shape == ref.shape
    # the transforms run in float32: agreement to float32 rounding
    assert (y.double() - ref).abs().max().item() < 1e-5 * ref.abs().max().item()


def test_winograd_bf16_error_is_close_to_a_direct_bf16_convolution():
    torch.manual_seed(1)
    x = torch.relu(torch.randn(2, 64, 12, 8)).contiguous(memory_format=torch.channels_last)
    w = torch.randn(96, 64, 3, 3) / 24
    ref = F.conv2d(x, w, padding=1)
    direct = F.conv2d(x.bfloat16(), w.bfloat16(), padding=1).float()
    wino = winograd_conv3x3(x.bfloat16(), winograd_weight(w))
    rel = lambda y: ((y - ref).norm() / ref.norm()).item()  # noqa: E731
    assert rel(direct) < 0.01
    assert rel(wino) < 2.5 * rel(direct)


def test_winograd_weight_rejects_other_kernels():
    with pytest.raises(ValueError, match="3, 3"):
        winograd_weight(torch.zeros(4, 2, 5, 5))
    with pytest.raises(ValueError, match="3x3"):
        WinogradConv2d(torch.nn.Conv2d(2, 4, 3, padding=1, stride=2))


def test_use_winograd_converts_only_wide_3x3_convs_and_keeps_outputs():
    model = _randomised_bn("test_cnn")  # blocks of two 3x3 convs with 8 and 16 outputs
    x = torch.from_numpy(_clips(4))
    with torch.no_grad():
        ref = model(x)["logits"]
    m = copy.deepcopy(model)
    n = use_winograd(m, min_out_channels=16, dtype=torch.float32)
    assert n == 2  # conv_block2's two convs, not conv_block1's (8 outputs)
    b1, b2 = m.conv_block1, m.conv_block2
    assert isinstance(b2.conv1, WinogradConv2d) and isinstance(b2.conv2, WinogradConv2d)
    assert isinstance(b2.bn1, torch.nn.Identity)  # folded into the Winograd weights
    assert isinstance(b1.conv1, torch.nn.Conv2d) and isinstance(b1.bn1, torch.nn.BatchNorm2d)
    with torch.no_grad():
        out = m(x)["logits"]
    assert (out - ref).abs().max().item() < 1e-4 * max(1.0, ref.abs().max().item())
    with pytest.raises(ValueError, match="eval mode"):
        use_winograd(copy.deepcopy(model).train())


def test_use_winograd_leaves_5x5_convs_alone():
    m = create_model("cnn6_lite", num_classes=3).eval()
    assert use_winograd(m, min_out_channels=1) == 0
    assert not any(isinstance(mod, WinogradConv2d) for mod in m.modules())


def test_bf16_runner_folds_and_uses_winograd_on_a_copy(monkeypatch):
    model = _randomised_bn("test_cnn")
    before = copy.deepcopy(model.state_dict())
    x = _clips(4)
    ref = Runner(copy.deepcopy(model), "fp32")(x)["logits"]
    import audiocnn.inference.winograd as wg

    monkeypatch.setattr(wg, "DEFAULT_MIN_OUT_CHANNELS", 16)  # the test model's convs are narrower than 512
    r = Runner(model, "bf16")
    assert sum(isinstance(m, WinogradConv2d) for m in r.model.modules()) == 2
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for b in r.model.modules() if isinstance(b, ConvBlock) for m in b.children())
    # the caller's model is untouched (still loads checkpoints)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    out = r(x)["logits"]
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=0.05 * max(1.0, ref.abs().max().item()))
    direct = Runner(copy.deepcopy(model), "bf16", winograd=False)
    assert not any(isinstance(m, WinogradConv2d) for m in direct.model.modules())


def test_bf16_copy_false_folds_in_place_and_tagger_copies_only_a_callers_model():
    from audiocnn.inference.tagger import Tagger

    model = _randomised_bn("test_cnn")
    r = Runner(model, "bf16", copy=False)
    assert r.model is model and isinstance(model.conv_block1.bn1, torch.nn.Identity)
    mine = _randomised_bn("test_cnn")
    t = Tagger(mine, precision="bf16")
    assert isinstance(mine.conv_block1.bn1, torch.nn.BatchNorm2d)  # the caller's model is untouched
    assert t.model is not mine and isinstance(t.model.conv_block1.bn1, torch.nn.Identity)
    assert t.predict_proba(_clips(2)).shape == (2, 10)


def test_sed_frame_probabilities_in_bf16_with_winograd_follow_fp32(monkeypatch):
    """The frame-wise (decision-level) path through Winograd convolutions, on a long input."""
    import audiocnn.inference.winograd as wg
    from audiocnn.inference.sed import SoundEventDetector

    monkeypatch.setattr(wg, "DEFAULT_MIN_OUT_CHANNELS", 16)
    model = _randomised_bn("test_cnn_sed")
    x = np.concatenate(list(_clips(4)))  # 4 s, several chunks' worth for a test model
    ref = SoundEventDetector(copy.deepcopy(model)).frame_probabilities(x, SR)
    det = SoundEventDetector(copy.deepcopy(model), precision="bf16")
    assert sum(isinstance(m, WinogradConv2d) for m in det.runner.model.modules()) == 2
    got = det.frame_probabilities(x, SR)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 0.05
    assert np.abs(got - ref).max() > 0  # it did run in bf16


def test_float32_products_stay_float32_under_bf16_autocast():
    torch.manual_seed(2)
    conv = torch.nn.Conv2d(8, 12, 3, padding=1)
    x = torch.randn(2, 8, 6, 5)
    ref = conv(x)
    w = WinogradConv2d(conv, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = w(x)
    assert (y - ref).abs().max().item() < 1e-4 * ref.abs().max().item()  # bf16 products would be ~1e-2


def test_no_winograd_and_a_warning_without_native_bf16(monkeypatch, caplog):
    import audiocnn.inference.runtime as rt
    import audiocnn.inference.winograd as wg

    monkeypatch.setattr(wg, "DEFAULT_MIN_OUT_CHANNELS", 16)
    monkeypatch.setattr(rt, "cpu_has_native_bf16", lambda: False)
    with caplog.at_level("WARNING", logger="audiocnn.inference.runtime"):
        r = Runner(_randomised_bn("test_cnn"), "bf16")
    assert not any(isinstance(m, WinogradConv2d) for m in r.model.modules())
    assert "no native bfloat16" in caplog.text
    monkeypatch.setattr(rt, "cpu_has_native_bf16", lambda: True)
    assert any(isinstance(m, WinogradConv2d) for m in Runner(_randomised_bn("test_cnn"), "bf16").model.modules())


def test_hear_load_model_folds_its_own_network_in_bf16():
    from audiocnn.inference import hear

    with pytest.warns(UserWarning, match="RANDOM"):
        m = hear.load_model("", model_name="test_cnn", precision="bf16")
    assert isinstance(m.model.conv_block1.bn1, torch.nn.Identity)
    emb = hear.get_scene_embeddings(torch.from_numpy(_clips(2)), m)
    assert emb.shape == (2, m.scene_embedding_size) and torch.isfinite(emb).all()
