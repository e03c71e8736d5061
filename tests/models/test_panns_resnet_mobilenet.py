"""Family-specific properties of the PANNs ResNets and MobileNets (the generic ones are in
test_zoo.py, checkpoint layout in test_checkpoints.py, numerical parity in test_panns_parity.py)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import audiocnn
from audiocnn.models._registry import get_model_builder
from audiocnn.models.panns_mobilenet import PannsMobileNet
from audiocnn.models.panns_resnet import PannsResNet

TINY = ["test_resnet", "test_mobilenet"]


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("sample_rate", [32000, 16000])
def test_min_samples_is_tight(name, sample_rate):
    model = audiocnn.create_model(name, num_classes=2, sample_rate=sample_rate).eval()
    k = model.info.min_samples
    assert model.sample_rate == sample_rate
    with torch.no_grad():
        assert model(torch.randn(1, k))["logits"].shape == (1, 2)
        # one sample less: without the input check the pooling stack runs out of frames
        model.info = dataclasses.replace(model.info, min_samples=0)
        with pytest.raises(RuntimeError):
            model(torch.randn(1, k - 1))


@pytest.mark.parametrize("name", TINY + ["resnet22", "mobilenet_v1", "mobilenet_v2"])
def test_gradcam_layer_is_the_last_conv(name):
    with torch.device("meta"):
        model = get_model_builder(name)(num_classes=3)
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert model.info.gradcam_layer == convs[-1]


@pytest.mark.parametrize("name", TINY)
def test_head_reads_the_embedding_in_eval(name):
    model = audiocnn.create_model(name, num_classes=4).eval()
    x = torch.randn(2, model.info.min_samples + 3000)
    with torch.no_grad():
        out = model(x)
        torch.testing.assert_close(model.forward_head(out["embedding"]), out["logits"])
        torch.testing.assert_close(model.forward_features(x), out["embedding"])
    assert out["embedding"].shape == (2, model.embedding_dim) and (out["embedding"] >= 0).all()


def test_training_mode_is_stochastic_and_eval_is_not():
    model = audiocnn.create_model("test_resnet", num_classes=3)
    x = torch.randn(1, 20000)
    model.train()
    assert not torch.equal(model(x)["embedding"], model(x)["embedding"])  # dropout + SpecAugment
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x)["logits"], model(x)["logits"])


def test_residual_blocks_start_as_identity():
    """The last BatchNorm of every residual branch starts at zero (PANNs' zero_init_residual)."""
    model = audiocnn.create_model("resnet38")
    blocks = [m for m in model.resnet.modules() if hasattr(m, "conv2") and hasattr(m, "downsample")]
    assert len(blocks) == 3 + 4 + 6 + 3
    for b in blocks:
        assert torch.count_nonzero(b.bn2.weight) == 0


def test_bad_arguments():
    info = audiocnn.create_model("test_resnet").info
    with pytest.raises(ValueError, match="block must be"):
        PannsResNet(info, block="dense")
    with pytest.raises(ValueError, match="same length"):
        PannsResNet(info, depths=(1, 1), widths=(4, 4, 4))
    with pytest.raises(ValueError, match="version must be"):
        PannsMobileNet(info, version="v3")
    with pytest.raises(ValueError, match="PANNs front-ends exist"):
        audiocnn.create_model("test_mobilenet", sample_rate=22050)
