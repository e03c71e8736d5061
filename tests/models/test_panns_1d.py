"""Properties of the PANNs waveform models (LeeNet, DaiNet, Res1dNet, Wavegram) beyond the zoo checks.

Checkpoint layout and parity with the original code are tested in the checkpoint/parity tests.
"""

import dataclasses

import pytest
import torch

import audiocnn

WAVE_MODELS = [
    "leenet11", "leenet24", "dainet19", "res1dnet31", "res1dnet51", "wavegram_cnn14", "wavegram_logmel_cnn14",
    "test_leenet", "test_dainet", "test_res1dnet", "test_wavegram",
]  # fmt: skip


def _unchecked(model):
    """The model with its length check switched off, so that the layers themselves decide."""
    model.info = dataclasses.replace(model.info, min_samples=0)
    return model


@pytest.mark.parametrize("name", WAVE_MODELS)
def test_min_samples_is_the_shortest_input_the_layers_accept(name):
    model = audiocnn.create_model(name, num_classes=3).eval()
    n = model.info.min_samples
    assert n >= 1
    model = _unchecked(model)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        out = model(torch.randn(1, n, generator=g))
        assert torch.isfinite(out["logits"]).all()
        with pytest.raises(RuntimeError):
            model(torch.randn(1, n - 1, generator=g))


@pytest.mark.parametrize("name", ["test_leenet", "test_dainet", "test_res1dnet", "test_wavegram", "dainet19", "wavegram_logmel_cnn14"])
def test_output_length_arithmetic_matches_the_layers(name):
    model = audiocnn.create_model(name, num_classes=3).eval()
    lengths = [model.info.min_samples, model.info.min_samples + 1, 12345 + model.info.min_samples, 32000, 32320, 33001]
    with torch.no_grad():
        for n in lengths:
            assert model.forward_conv(torch.zeros(1, n)).shape[-1] == model.output_length(n), n


def test_wavegram_has_the_log_mel_frame_rate():
    # one Wavegram frame per hop (320 samples at 32 kHz); the log-mel has 1 + n // 320 centred frames
    model = audiocnn.create_model("wavegram_logmel_cnn14")
    for n in (32000, 320000, 32000 * 7 + 123):
        assert model.logmel_extractor.num_frames(n) - model.wavegram_frames(n) in (0, 1)


def test_wavegram_logmel_accepts_lengths_where_the_branches_differ_by_a_frame():
    # at 32320 samples the log-mel branch has 51 frames after conv_block1, the Wavegram 50
    model = audiocnn.create_model("test_wavegram", num_classes=3).eval()
    n = 32320
    assert model.logmel_extractor.num_frames(n) // 2 != model.wavegram_frames(n) // 2
    x = 0.1 * torch.randn(2, n, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(x)
        single = model(x[1:])
    assert torch.isfinite(out["logits"]).all()
    torch.testing.assert_close(single["logits"][0], out["logits"][1], rtol=1e-4, atol=1e-5)


def test_wavegram_cnn14_declares_its_unused_original_modules():
    model = audiocnn.create_model("wavegram_cnn14")
    assert model.info.input == "waveform"
    assert not hasattr(model, "conv_block1") and not hasattr(model, "logmel_extractor")
    assert set(model.info.ignored_checkpoint_keys) == {"conv_block1.*", "bn0.*"}
    assert audiocnn.create_model("wavegram_logmel_cnn14").info.input == "both"


def test_block_dropout_only_in_training():
    model = audiocnn.create_model("test_leenet", num_classes=3, block_dropout=0.5)
    x = torch.randn(2, 4000, generator=torch.Generator().manual_seed(0))
    model.eval()
    with torch.no_grad():
        a, b = model(x)["logits"], model(x)["logits"]
    torch.testing.assert_close(a, b)
    model.train()
    with torch.no_grad():
        c, d = model.forward_conv(x), model.forward_conv(x)
    assert not torch.equal(c, d)


def test_residual_blocks_start_as_identity_plus_shortcut():
    # the last BN of each residual block starts at zero gain (as in the original initialisation)
    model = audiocnn.create_model("dainet19")
    assert torch.count_nonzero(model.conv_block2.bn4.weight) == 0
    model = audiocnn.create_model("res1dnet31")
    assert torch.count_nonzero(model.resnet.layer3[1].bn2.weight) == 0


@pytest.mark.parametrize("bad", [{"pools": (1, 3)}, {"block": "dense"}])
def test_invalid_configuration_is_a_clear_error(bad):
    from audiocnn.models.panns_1d import WaveCnn1d

    info = audiocnn.models.ModelInfo(name="x", input="waveform", sample_rate=0)
    kwargs = {"channels": (8, 8, 8), "pools": (1, 3, 3), **bad}
    with pytest.raises(ValueError, match="pool size|block must be"):
        WaveCnn1d(info, **kwargs)


class _Logits(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["logits"]


@pytest.mark.parametrize("name", ["test_wavegram", "test_res1dnet", "test_leenet", "test_dainet"])
def test_exported_graph_stays_valid_for_other_lengths(name):
    # exported (torch.export, dynamic length) at 1 s (Wavegram and log-mel frames agree), run where
    # they differ by a frame (1.01 s) and at a longer length: no length may be baked into the graph
    model = audiocnn.create_model(name, num_classes=3).eval()
    g = torch.Generator().manual_seed(0)
    dyn = {"x": {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC}}
    with torch.no_grad():
        program = torch.export.export(_Logits(model), (0.1 * torch.randn(2, 32000, generator=g),), dynamic_shapes=dyn).module()
        for n in (32320, 33111, 105600):
            x = 0.1 * torch.randn(2, n, generator=g)
            torch.testing.assert_close(program(x), model(x)["logits"], rtol=1e-5, atol=1e-6)


def test_wavegram_only_at_32_khz():
    assert audiocnn.create_model("test_wavegram", sample_rate=32000).sample_rate == 32000
    with pytest.raises(ValueError, match="32000 Hz only"):
        audiocnn.create_model("test_wavegram", sample_rate=16000)
