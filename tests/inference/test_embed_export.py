import copy

import numpy as np
import pytest
import torch

from audiocnn.audio import load_audio
from audiocnn.inference.embed import Embedder
from audiocnn.inference.export import export_model, onnx_friendly

from inference_helpers import SR


def test_embed_files_npz_contents(tiny_cnn, wavs, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("x")
    emb = Embedder(tiny_cnn)
    res = emb.embed_files([*wavs, bad])
    assert res.embeddings.shape == (3, tiny_cnn.embedding_dim)
    assert res.failed == {str(bad): res.failed[str(bad)]} and "not a readable" in res.failed[str(bad)]
    wave, _ = load_audio(wavs[1], sample_rate=SR)
    with torch.no_grad():
        ref = tiny_cnn(torch.from_numpy(wave)[None])["embedding"][0].numpy()
    np.testing.assert_allclose(res.embeddings[1], ref, atol=1e-5)
    z = np.load(res.save_npz(tmp_path / "e.npz"))
    assert set(z.files) >= {"embeddings", "paths", "file_index", "failed_paths", "failed_reasons", "model", "sample_rate"}
    assert "timestamps" not in z.files
    np.testing.assert_array_equal(z["embeddings"], res.embeddings)
    assert list(z["failed_paths"]) == [str(bad)]


def test_onnx_friendly_stft_matches_fft_path(tiny_cnn):
    x = 0.1 * torch.randn(2, int(1.7 * SR))
    conv = onnx_friendly(tiny_cnn).eval()
    with torch.no_grad():
        a = tiny_cnn.logmel_extractor(x)
        b = conv.logmel_extractor(x)
    assert type(conv.logmel_extractor).__name__.startswith("ConvStft")
    assert type(tiny_cnn.logmel_extractor).__name__ == "LogMel"  # the original is untouched
    # dB values; low-energy bins are sensitive to float rounding, so compare in power terms too
    assert torch.quantile((a - b).abs().flatten(), 0.999) < 1e-2
    torch.testing.assert_close(10 ** (b / 10), 10 ** (a / 10), atol=1e-6, rtol=1e-3)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_parity(tiny_cnn, tmp_path, fmt):
    res = export_model(copy.deepcopy(tiny_cnn), tmp_path / f"m.{fmt}", fmt, seconds=1.0)
    assert res.path.exists() and res.path.stat().st_size > 0
    assert res.max_abs_diff_logits < 1e-4
    # the file works on its own, with another batch size and length than the export used
    x = 0.1 * torch.randn(1, int(0.8 * SR))
    with torch.no_grad():
        ref = tiny_cnn(x)["logits"].numpy()
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
        got, emb = sess.run(None, {"waveform": x.numpy()})
        assert emb.shape == (1, tiny_cnn.embedding_dim)
    else:
        got = torch.jit.load(str(res.path))(x)[0].detach().numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4)
