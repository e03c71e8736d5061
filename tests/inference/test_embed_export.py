import copy
import json

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


LABELS = [f"c{i}" for i in range(10)]


@pytest.fixture(scope="module", params=["onnx", "pt2"])
def exported(request, tiny_cnn, tmp_path_factory):
    """tiny_cnn exported once per format with its bundle (read by the tests below)."""
    from audiocnn.models.bundle import ModelBundle

    fmt = request.param
    bundle = ModelBundle.for_model(tiny_cnn, labels=LABELS)
    path = tmp_path_factory.mktemp(f"export_{fmt}") / f"m.{fmt}"
    return fmt, bundle, export_model(copy.deepcopy(tiny_cnn), path, fmt, seconds=1.0, bundle=bundle)


def test_export_parity(tiny_cnn, exported):
    fmt, _, res = exported
    assert res.path.exists() and res.path.stat().st_size > 0
    assert res.max_abs_diff_logits < 1e-4
    # the file works on its own, with another batch size and length than the export used
    x = 0.1 * torch.randn(1, int(0.8 * SR))
    with torch.no_grad():
        ref = tiny_cnn(x)
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
        got, emb = sess.run(None, {"waveform": x.numpy()})
        assert not list(res.path.parent.glob("*.data"))  # the weights are inside the one file
    else:
        assert res.min_samples is not None and res.min_samples <= x.shape[1]
        program = torch.export.load(str(res.path)).module()
        with torch.no_grad():
            got, emb = (t.numpy() for t in program(x))
    assert emb.shape == (1, tiny_cnn.embedding_dim)
    np.testing.assert_allclose(got, ref["logits"].numpy(), atol=1e-4)
    np.testing.assert_allclose(emb, ref["embedding"].numpy(), atol=1e-4)


def test_export_stores_the_bundle(tiny_cnn, exported):
    from audiocnn.inference.export import BUNDLE_KEY, load_pt2
    from audiocnn.models.bundle import ModelBundle

    fmt, bundle, res = exported
    if fmt == "onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(str(res.path)).metadata_props}
        stored = json.loads(props[BUNDLE_KEY])
    else:
        program, stored = load_pt2(res.path)
        x = 0.1 * torch.randn(2, SR)
        with torch.no_grad():
            np.testing.assert_allclose(program(x)[0].numpy(), tiny_cnn(x)["logits"].numpy(), atol=1e-4)
    assert ModelBundle.from_dict(stored) == bundle and list(bundle.labels) == LABELS


def test_export_refuses_an_unknown_format(tiny_cnn, tmp_path):
    with pytest.raises(ValueError, match="torchscript"):
        export_model(tiny_cnn, tmp_path / "m.pt", "torchscript")
    assert not (tmp_path / "m.pt").exists()


def test_onnx_export_without_the_export_extra_says_what_to_install(tiny_cnn, tmp_path, monkeypatch, capsys):
    import sys

    from audiocnn.cli import main
    from audiocnn.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r'onnxscript.*pip install "audiocnn\[export\]"'):
        export_model(tiny_cnn, tmp_path / "m.onnx", "onnx", seconds=1.0)
    assert main(["export", "--model", "test_cnn", "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 1
    assert 'pip install "audiocnn[export]"' in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()
