import copy
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from audiocnn.cli import main
from audiocnn.inference.quantize import Int8ConvBlock, fold_batchnorm, int8_quantizer, quantize_conv_blocks, quantize_uint8, synthetic_calibration
from audiocnn.inference.runtime import Runner
from audiocnn.inference.tagger import Tagger
from audiocnn.models import create_model
from audiocnn.models.layers import ConvBlock
from audiocnn.testing import tone

from inference_helpers import SR, quiet


def _randomised_bn(name="test_cnn", seed=3, **kw):
    """A test model whose BatchNorms are not the init's identity (so folding/quantising them is tested)."""
    torch.manual_seed(seed)
    m = create_model(name, num_classes=10, **kw).eval()
    g = torch.Generator().manual_seed(seed)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            mod.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=g))
            mod.weight.data.copy_(1 + 0.3 * torch.randn(n, generator=g))
            mod.bias.data.copy_(0.2 * torch.randn(n, generator=g))
    return m


def _int8_convs(block):
    """The oneDNN int8 convolutions of a converted block's lowered graph."""
    return [n for n in block.int8.graph.nodes if n.op == "call_function" and n.target == torch.ops.onednn.qconv_pointwise.default]


def _clips(n=6, seconds=1.0):
    rng = np.random.default_rng(4)
    freqs = (200, 500, 900, 2000, 5000, 8000, 300, 3000)
    return np.stack([tone(freqs[i % 8], seconds, SR) * (0.2 + 0.1 * i) + 0.05 * rng.standard_normal(int(seconds * SR)).astype(np.float32) for i in range(n)])


def test_fold_batchnorm_is_exact_in_fp32():
    m = _randomised_bn()
    x = torch.from_numpy(_clips())
    with torch.no_grad():
        ref = m(x)["logits"]
    folded = copy.deepcopy(m)
    n = fold_batchnorm(folded)
    assert n == 4  # test_cnn: 2 blocks x 2 convs
    assert not any(isinstance(b, torch.nn.BatchNorm2d) for blk in folded.modules() if isinstance(blk, ConvBlock) for b in blk.children())
    with torch.no_grad():
        got = folded(x)["logits"]
    assert (ref - got).abs().max().item() < 1e-4 * max(1.0, ref.abs().max().item())
    assert fold_batchnorm(folded) == 0  # nothing left to fold
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(copy.deepcopy(m).train())


def test_int8_quantises_every_conv_block_and_stays_close_to_fp32():
    m = _randomised_bn()
    x = _clips(8)
    q, n = quantize_conv_blocks(m, calibration=x[:4])
    assert n == 2
    blocks = [b for b in q.modules() if isinstance(b, Int8ConvBlock)]
    assert len(blocks) == 2 and not any(isinstance(b, ConvBlock) for b in q.modules())
    # converted: oneDNN int8 convolutions (one per int8 conv), not float modules with observers
    assert all(b.converted and b.observed is None and len(_int8_convs(b)) == b.num_int8_convs for b in blocks)
    assert isinstance(next(m.modules()), type(q)) and any(isinstance(b, ConvBlock) for b in m.modules())  # input untouched
    with torch.no_grad():
        ref = torch.sigmoid(m(torch.from_numpy(x))["logits"]).numpy()
        got = torch.sigmoid(q(torch.from_numpy(x))["logits"]).numpy()
    assert np.abs(got - ref).max() < 0.03
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 7 / 8


def _calibrated_block(block, x):
    q = Int8ConvBlock(block).eval()
    q.observe(int8_quantizer())
    with torch.no_grad():
        q(x)
    q.convert()
    return q


def test_int8_block_follows_any_input_shape_and_pooling():
    # calibrated on one shape; batch, time and frequency stay dynamic, including sizes of 1 and
    # odd sizes whose pooled size is 1 (a shape frozen at calibration would fail or differ)
    torch.manual_seed(0)
    block = ConvBlock(8, 16).eval()
    q = _calibrated_block(copy.deepcopy(block), torch.relu(torch.randn(4, 8, 12, 10)))
    for shape in [(1, 8, 1, 1), (1, 8, 3, 2), (2, 8, 2, 3), (3, 8, 37, 10), (5, 8, 12, 10)]:
        x = torch.relu(torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape))))
        for pool_size, pool_type in (((1, 1), "avg"), ((2, 2), "avg+max"), ((1, 2), "max")):
            if shape[2] < pool_size[0] or shape[3] < pool_size[1]:
                continue
            with torch.no_grad():
                ref = block(x, pool_size, pool_type)
                got = q(x, pool_size, pool_type)
            assert got.shape == ref.shape and got.dtype == torch.float32
            assert (got - ref).abs().max().item() < 0.05 * max(ref.abs().max().item(), 1e-3)


def test_quantize_uint8_equals_the_reference_arithmetic():
    x = torch.cat([torch.linspace(-2, 3, 1001), torch.tensor([0.0, 0.05, 0.15, 0.25, 1e9, -1e9])])
    for scale, zp, qmax in ((0.01, 0, 255), (0.1, 3, 255), (0.02, 0, 127)):
        ref = torch.clamp(torch.round(x * (1.0 / scale)) + zp, 0, qmax).to(torch.uint8)  # PT2E multiplies by the inverse
        assert torch.equal(quantize_uint8(x, scale, zp, 0, qmax, torch.uint8), ref)


def test_int8_block_refuses_to_convert_without_calibration():
    q = Int8ConvBlock(ConvBlock(8, 16).eval())
    with pytest.raises(RuntimeError, match="never ran"):
        q.convert()


def test_runner_int8_selectable_from_tagger_with_own_calibration():
    m = _randomised_bn()
    x = _clips(6)
    p32 = Tagger(copy.deepcopy(m)).predict_proba(x)
    t8 = quiet(Tagger, copy.deepcopy(m), precision="int8", calibration=x[:3])
    assert any(isinstance(b, Int8ConvBlock) for b in t8.model.modules())
    p8 = t8.predict_proba(x)
    assert np.abs(p8 - p32).max() < 0.03
    with pytest.raises(ValueError, match="calibration must be"):
        Runner(copy.deepcopy(m), "int8", calibration=x[:, :100])
    with pytest.raises(ValueError, match="only used by precision='int8'"):
        Runner(copy.deepcopy(m), "bf16", calibration=x)


def test_int8_without_conv_blocks_falls_back_to_dynamic_linear(caplog):
    torch.manual_seed(0)
    m = create_model("test_mobilenet", num_classes=5).eval()
    assert not any(isinstance(b, ConvBlock) for b in m.modules())
    with caplog.at_level(logging.INFO, logger="audiocnn.inference.runtime"):
        r = Runner(m, "int8")
    assert "no ConvBlock" in caplog.text
    linears = [mod for mod in r.model.modules() if isinstance(mod, torch.nn.Linear)]
    assert linears and all(type(mod.weight).__module__.startswith("torchao") for mod in linears)  # int8 weights
    assert not any(type(mod.weight).__module__.startswith("torchao") for mod in m.modules() if isinstance(mod, torch.nn.Linear))
    x = torch.from_numpy(_clips(2))
    got = r(x)["logits"]
    with torch.no_grad():
        ref = m(x)["logits"]
    assert got.shape == (2, 5)
    assert (torch.sigmoid(got) - torch.sigmoid(ref)).abs().max().item() < 0.03


def test_synthetic_calibration_is_deterministic_and_in_range():
    a = synthetic_calibration(SR, n=8, seconds=0.5)
    b = synthetic_calibration(SR, n=8, seconds=0.5)
    assert a.shape == (8, SR // 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(a).all() and np.abs(a).max() <= 1.0
    peaks = np.abs(a).max(1)
    assert peaks.max() / peaks.min() > 10  # a spread of levels, not one


def test_cli_tag_precision_int8(wavs, capsys):
    rc = main(["tag", *map(str, wavs), "--model", "test_cnn", "--precision", "int8", "--format", "json", "--workers", "0", "--no-progress"])
    out, _ = capsys.readouterr()
    assert rc == 0
    rows = json.loads(out)
    assert len(rows) == 3 and all(len(r["tags"]) == 5 for r in rows)


def test_calibration_from_files_and_cli_option(wavs, capsys):
    from audiocnn.inference.quantize import calibration_from_files

    c = calibration_from_files(wavs, SR, seconds=1.0, max_clips=3)
    assert c.shape == (3, SR) and c.dtype == np.float32  # 1.5 + 2 + 1 s -> 4 windows, 3 kept
    short = calibration_from_files(wavs[2], SR, seconds=2.5)  # 1-s file repeated to fill 2.5 s
    assert short.shape == (1, int(2.5 * SR))
    np.testing.assert_allclose(short[0, SR : 2 * SR], short[0, :SR])
    m = _randomised_bn()
    t = quiet(Tagger, copy.deepcopy(m), precision="int8", calibration=[str(w) for w in wavs])
    assert any(isinstance(b, Int8ConvBlock) for b in t.model.modules())
    rc = main(["tag", str(wavs[0]), "--model", "test_cnn", "--precision", "int8", "--calibration", str(wavs[1].parent), "--workers", "0", "--no-progress", "--format", "json"])
    assert rc == 0 and len(json.loads(capsys.readouterr().out)) == 1
    capsys.readouterr()
    assert main(["tag", str(wavs[0]), "--model", "test_cnn", "--calibration", str(wavs[1]), "--workers", "0", "--no-progress"]) == 2
    assert "--calibration is only used with --precision int8" in capsys.readouterr().err  # a usage error


def test_int8_keeps_the_spectrogram_reading_conv_in_float32():
    m = _randomised_bn()
    q, n = quantize_conv_blocks(m, calibration=_clips(4))
    first = next(b for b in q.modules() if isinstance(b, Int8ConvBlock))
    src = next(b for b in m.modules() if isinstance(b, ConvBlock))
    assert src.conv1.in_channels == 1
    # conv1 (1 input channel) is a float conv with BatchNorm folded in; conv2 is int8
    assert len(first.float_convs) == 1 and first.num_int8_convs == 1
    conv = first.float_convs[0][0]
    assert conv.weight.dtype == torch.float32 and len(_int8_convs(first)) == 1
    x = torch.randn(2, 1, 16, 8)
    with torch.no_grad():
        ref = torch.relu(src.bn1(src.conv1(x)))
        got = torch.relu(first.float_convs(x))  # the ReLU itself is left to the uint8 quantiser
    assert (got - ref).abs().max().item() < 1e-5 * max(1.0, ref.abs().max().item())
    # with no float exception every conv is int8
    whole = Int8ConvBlock(copy.deepcopy(src), float_below_channels=0)
    assert len(whole.float_convs) == 0 and whole.num_int8_convs == 2


def test_int8_leaves_a_block_with_no_int8_conv_alone():
    torch.manual_seed(0)
    m = create_model("cnn6_lite_speech", num_classes=4).eval()
    blocks = [b for b in m.modules() if isinstance(b, ConvBlock)]
    assert blocks[0].num_convs == 1 and blocks[0].conv1.in_channels == 1
    q, n = quantize_conv_blocks(m, calibration=_clips(2, seconds=1.0))
    assert n == len(blocks) - 1
    kept = [b for b in q.modules() if isinstance(b, ConvBlock)]
    assert len(kept) == 1 and kept[0].conv1.weight.dtype == torch.float32


def test_cli_int8_calibrates_on_the_input_audio_by_default(wavs, tmp_path, monkeypatch, capsys):
    import audiocnn.inference.quantize as qmod

    seen = []
    real_files, real_synth = qmod.calibration_from_files, qmod.synthetic_calibration
    monkeypatch.setattr(qmod, "calibration_from_files", lambda paths, *a, **k: seen.append(("files", list(map(str, paths)))) or real_files(paths, *a, **k))
    monkeypatch.setattr(qmod, "synthetic_calibration", lambda *a, **k: seen.append(("synthetic",)) or real_synth(*a, **k))
    base = ["--model", "test_cnn", "--precision", "int8"]
    assert main(["tag", *map(str, wavs), *base, "--workers", "0", "--no-progress", "--format", "json"]) == 0
    assert seen[-1] == ("files", [str(w) for w in wavs])
    assert main(["tag", str(wavs[0]), *base, "--calibration", "synthetic", "--workers", "0", "--no-progress", "--format", "json"]) == 0
    assert seen[-1] == ("synthetic",)
    assert main(["embed", str(wavs[1]), *base, "--out", str(tmp_path / "e.npz"), "--workers", "0", "--no-progress"]) == 0
    assert seen[-1] == ("files", [str(wavs[1])])
    assert main(["sed", str(wavs[1]), *base, "--calibration", str(wavs[0])]) == 0
    assert seen[-1] == ("files", [str(wavs[0])])
    capsys.readouterr()
    assert main(["sed", str(wavs[0]), "--model", "test_cnn", "--calibration", str(wavs[1])]) == 2
    assert "--calibration is only used with --precision int8" in capsys.readouterr().err


def test_calibration_from_files_reads_few_files_and_skips_unreadable(tmp_path, caplog):
    import soundfile as sf

    from audiocnn.inference.quantize import calibration_from_files

    for i in range(40):
        sf.write(tmp_path / f"c{i:02d}.wav", tone(300 + 20 * i, 1.0, SR), SR)
    (tmp_path / "c06.wav").write_bytes(b"not audio")  # one of the 8 evenly spread picks
    read = []
    import audiocnn.audio.windows as stream

    real = stream.iter_audio_chunks
    def spy(path, *a, **k):
        read.append(Path(path).name)
        return real(path, *a, **k)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stream, "iter_audio_chunks", spy)
        with caplog.at_level(logging.WARNING, logger="audiocnn.inference.quantize"):
            c = calibration_from_files(tmp_path, SR, seconds=1.0, max_clips=8, max_files=8)
    assert len(read) <= 8 and c.shape[0] <= 8 and c.shape[1] == SR
    assert "c06.wav" in caplog.text and c.shape[0] == 7
    bad = tmp_path / "only_bad"
    bad.mkdir()
    (bad / "x.wav").write_bytes(b"junk")
    with pytest.raises(ValueError, match="x.wav"):
        calibration_from_files(bad, SR, seconds=1.0)


def test_int8_warns_when_it_falls_back_to_synthetic_calibration():
    m = _randomised_bn()
    with pytest.warns(UserWarning, match="synthetic audio"):
        quantize_conv_blocks(m)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        quantize_conv_blocks(m, calibration=_clips(2))  # own clips: no warning


def test_int8_drops_the_float_relu_only_where_quantising_clamps_the_same():
    m = _randomised_bn()
    q, _ = quantize_conv_blocks(m, calibration=_clips(4))
    first = next(b for b in q.modules() if isinstance(b, Int8ConvBlock))
    assert first.input_zero_point == 0  # calibrated on post-ReLU values
    assert isinstance(first.float_convs[0][1], torch.nn.Identity)  # dropped at conversion
    x = 3 * torch.randn(2, 1, 16, 8)
    with torch.no_grad():
        assert (first.float_convs(x) < 0).any()  # the ReLU is really gone...
        without = first(x)
        first.float_convs[0][1] = torch.nn.ReLU()
        with_relu = first(x)
    # ...and the uint8 quantiser clamps negatives the same way
    assert torch.equal(without, with_relu)
    # put back, a ReLU is dropped again only while the zero point is 0
    assert first.drop_relu_before_quant() and isinstance(first.float_convs[0][1], torch.nn.Identity)
    first.float_convs[0][1] = torch.nn.ReLU()
    node = next(n for n in first.int8.graph.nodes if n.op == "call_function" and n.target is quantize_uint8)
    node.args = (*node.args[:2], 3, *node.args[3:])  # a quantiser with a non-zero zero point
    assert first.input_zero_point == 3
    assert not first.drop_relu_before_quant() and isinstance(first.float_convs[0][1], torch.nn.ReLU)


def test_calibration_packs_short_files_end_to_end(tmp_path):
    import soundfile as sf

    from audiocnn.inference.quantize import calibration_from_files

    # 12 clips of 0.25 s, each a constant level of its own: 1-s windows must hold 4 of them
    for i in range(12):
        sf.write(tmp_path / f"s{i:02d}.wav", np.full(SR // 4, 0.05 * (i + 1), dtype=np.float32), SR)
    c = calibration_from_files(tmp_path, SR, seconds=1.0, max_clips=16)
    assert c.shape == (3, SR)
    levels = {round(float(v), 3) for v in np.unique(c.round(3))}
    assert levels == {round(0.05 * (i + 1), 3) for i in range(12)}  # every file is in, none repeated
    assert all(len(np.unique(w.round(3))) == 4 for w in c)


def test_int8_without_the_int8_extra_says_what_to_install(wavs, monkeypatch, capsys):
    import sys

    from audiocnn.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "torchao", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r'torchao.*pip install "audiocnn\[int8\]"'):
        Runner(_randomised_bn(), "int8", calibration=_clips(2))
    assert main(["tag", str(wavs[0]), "--model", "test_cnn", "--precision", "int8", "--workers", "0", "--no-progress"]) == 1
    assert 'pip install "audiocnn[int8]"' in capsys.readouterr().err
    assert Runner(_randomised_bn(), "fp32")(torch.from_numpy(_clips(1)))["logits"].shape == (1, 10)  # fp32 needs nothing
