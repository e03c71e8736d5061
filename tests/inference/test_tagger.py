import logging

import numpy as np
import pytest
import soxr
import torch
from inference_helpers import SR, quiet

from audiocnn.audio import load_audio
from audiocnn.inference.tagger import Tagger
from audiocnn.models import ModelBundle, create_model
from audiocnn.models._checkpoint import save_checkpoint
from audiocnn.testing import tone, write_wav


def _direct_sigmoid(model, x):
    with torch.no_grad():
        return torch.sigmoid(model(torch.as_tensor(x)[None] if x.ndim == 1 else torch.as_tensor(x))["logits"]).numpy()


def test_predict_proba_shapes_range_and_batch_equals_single(tiny_cnn):
    t = Tagger(tiny_cnn, batch_size=2)
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((3, SR))).astype(np.float32)
    p = t.predict_proba(x)
    assert p.shape == (3, 10) and p.dtype == np.float32
    assert np.all((p >= 0) & (p <= 1))
    for i in range(3):
        np.testing.assert_allclose(p[i], _direct_sigmoid(tiny_cnn, x[i])[0], atol=1e-5)
    # a 1-D input is one clip
    np.testing.assert_allclose(t.predict_proba(x[0])[0], p[0], atol=1e-5)


def test_long_input_is_mean_over_end_aligned_windows(tiny_cnn):
    t = Tagger(tiny_cnn, clip_seconds=1.0)
    x = (0.1 * np.random.default_rng(1).standard_normal(int(2.5 * SR))).astype(np.float32)
    expected = np.mean([_direct_sigmoid(tiny_cnn, x[s : s + SR])[0] for s in (0, SR, int(1.5 * SR))], axis=0)
    np.testing.assert_allclose(t.predict_proba(x)[0], expected, atol=1e-5)
    tmax = Tagger(tiny_cnn, clip_seconds=1.0, aggregate="max")
    expected_max = np.max([_direct_sigmoid(tiny_cnn, x[s : s + SR])[0] for s in (0, SR, int(1.5 * SR))], axis=0)
    np.testing.assert_allclose(tmax.predict_proba(x)[0], expected_max, atol=1e-5)


def test_too_short_input_is_padded_with_a_warning(tiny_cnn):
    t = Tagger(tiny_cnn)
    need = tiny_cnn.info.min_samples
    x = tone(500, 0.5 * need / SR, SR)
    with pytest.warns(UserWarning, match="zero-padded"):
        p = t.predict_proba(x)
    np.testing.assert_allclose(p[0], _direct_sigmoid(tiny_cnn, np.pad(x, (0, need - x.shape[0])))[0], atol=1e-6)


def test_sample_rate_mismatch_is_resampled_with_a_log_line(tiny_cnn, tmp_path, caplog):
    x16 = tone(700, 1.0, 16000)
    t = Tagger(tiny_cnn)
    with caplog.at_level(logging.INFO, logger="audiocnn.inference"):
        p = t.predict_proba(x16, sample_rate=16000)
    assert "16000 Hz" in caplog.text and "32000" in caplog.text
    ref = _direct_sigmoid(tiny_cnn, soxr.resample(x16, 16000, SR).astype(np.float32))[0]
    np.testing.assert_allclose(p[0], ref, atol=1e-4)
    # files: same path through the decoder
    path = write_wav(tmp_path / "a16k.wav", x16, 16000)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="audiocnn.inference"):
        (r,) = t.tag([path], top_k=3)
    wave, _ = load_audio(path, sample_rate=SR)
    np.testing.assert_allclose(r.probabilities, _direct_sigmoid(tiny_cnn, wave)[0], atol=1e-4)
    assert r.tags[0].probability == pytest.approx(float(r.probabilities.max()))


def test_tag_folder_with_workers_equals_in_process(tiny_cnn, wavs, tmp_path):
    t = Tagger(tiny_cnn, batch_size=2)
    (tmp_path / "notes.txt").write_text("not audio, and not walked (extension)")
    a = t.tag([tmp_path], top_k=3, num_workers=0)
    b = t.tag([tmp_path], top_k=3, num_workers=2)
    assert [r.path for r in a] == [str(p) for p in wavs]
    for ra, rb in zip(a, b):
        assert [x.index for x in ra.tags] == [x.index for x in rb.tags]
        np.testing.assert_allclose(ra.probabilities, rb.probabilities, atol=1e-6)
        d = ra.to_dict()
        assert set(d) == {"path", "tags", "duration", "windows", "error"} and len(d["tags"]) == 3


def test_tag_errors_raise_or_record(tiny_cnn, wavs, tmp_path):
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage")
    t = Tagger(tiny_cnn)
    with pytest.raises(ValueError, match="corrupt.wav"):
        t.tag([wavs[0], bad])
    res = t.tag([wavs[0], bad, wavs[1]], errors="record")
    assert [r.error is None for r in res] == [True, False, True]
    assert "not a readable audio file" in res[1].error and res[1].tags == []


def test_checkpoint_bundle_gives_labels_and_softmax(tmp_path):
    torch.manual_seed(0)
    m = create_model("test_cnn", num_classes=4)
    bundle = ModelBundle.for_model(m, labels=["a", "b", "c", "d"], task="single-label")
    ckpt = save_checkpoint(m, tmp_path / "m.pth", bundle)
    t = Tagger.from_checkpoint(ckpt)
    assert t.labels == ["a", "b", "c", "d"] and t.activation == "softmax"
    p = t.predict_proba(tone(300, 1.0, SR))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    with torch.no_grad():
        ref = torch.softmax(m(torch.from_numpy(tone(300, 1.0, SR))[None])["logits"], -1).numpy()
    np.testing.assert_allclose(p, ref, atol=1e-5)


def test_registry_name_without_checkpoint_warns_random_weights():
    with pytest.warns(UserWarning, match="RANDOM weights"):
        Tagger("test_cnn")


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_reduced_precision_agrees_with_fp32(precision):
    torch.manual_seed(3)
    m = create_model("test_cnn", num_classes=10)
    # BN statistics randomised, so the activations are not all near the init's identity
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    rng = np.random.default_rng(4)
    x = np.stack([tone(f, 1.0, SR) + 0.05 * rng.standard_normal(SR).astype(np.float32) for f in (200, 500, 900, 2000, 5000, 8000)])
    import copy

    p32 = Tagger(copy.deepcopy(m)).predict_proba(x)
    plo = quiet(Tagger, copy.deepcopy(m), precision=precision).predict_proba(x)
    assert np.abs(plo - p32).max() < 0.03
    assert (plo.argmax(1) == p32.argmax(1)).mean() >= 5 / 6


def test_onnxruntime_backend_matches_torch(tiny_cnn):
    import copy

    x = (0.1 * np.random.default_rng(5).standard_normal((3, int(1.3 * SR)))).astype(np.float32)
    ref = Tagger(copy.deepcopy(tiny_cnn)).predict_proba(x)
    got = Tagger(copy.deepcopy(tiny_cnn), backend="onnxruntime").predict_proba(x)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    with pytest.raises(ValueError, match="fp32"):
        Tagger(copy.deepcopy(tiny_cnn), backend="onnxruntime", precision="bf16")
