"""Export of the ImageNet family (multi-resolution mel front-end) to ONNX and a torch.export program."""

import copy

import numpy as np
import pytest
import torch

import audiocnn
from audiocnn.inference.export import export_model, onnx_friendly

from inference_helpers import quiet

SR = 16000  # test_imagenet_resnet's rate


@pytest.fixture(scope="module")
def tiny_imagenet():
    torch.manual_seed(3)
    return quiet(audiocnn.create_model, "test_imagenet_resnet", num_classes=4).eval()


def _waveform(seconds, batch, seed):
    return 0.1 * torch.randn(batch, int(seconds * SR), generator=torch.Generator().manual_seed(seed))


def test_onnx_friendly_multires_front_end_matches_the_fft_path(tiny_imagenet):
    conv = onnx_friendly(tiny_imagenet).eval()
    assert type(conv.frontend).__name__ == "ConvStftMultiResolutionMel"
    assert type(tiny_imagenet.frontend).__name__ == "MultiResolutionMel"  # the original is untouched
    x = _waveform(1.3, 2, 0)
    with torch.no_grad():
        a, b = tiny_imagenet.frontend(x), conv.frontend(x)
    assert a.shape == b.shape == (2, 3, 128, 65)
    torch.testing.assert_close(b, a, atol=1e-4, rtol=0)  # log-mel values, about -14..5 here


# The .pt2 program is the same torch.export capture as the ONNX one (whose symbolic length the
# default run checks, like tests/features/test_multires.py for the front-end alone), plus saving
# and loading: it is in the slow set.
@pytest.mark.parametrize("fmt", ["onnx", pytest.param("pt2", marks=pytest.mark.slow)])
def test_imagenet_export_follows_the_input_length(tiny_imagenet, tmp_path, fmt):
    # exported on 1 s (50 image columns); run on 0.8 s (40) and 2.17 s (108, with a batch of 3):
    # a frame count frozen at the example's length would give other numbers or fail
    res = quiet(export_model, copy.deepcopy(tiny_imagenet), tmp_path / f"m.{fmt}", fmt, seconds=1.0)
    assert res.max_abs_diff_logits < 1e-4
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])

        def run(x):
            return sess.run(None, {"waveform": x.numpy()})
    else:
        loaded = torch.export.load(str(res.path)).module()

        def run(x):
            with torch.no_grad():
                return [t.numpy() for t in loaded(x)]

    for seconds, batch in ((0.8, 1), (2.17, 3)):
        x = _waveform(seconds, batch, seed=int(seconds * 100))
        with torch.no_grad():
            ref = tiny_imagenet(x)
        logits, emb = run(x)
        assert logits.shape == (batch, 4) and emb.shape == (batch, tiny_imagenet.embedding_dim)
        np.testing.assert_allclose(logits, ref["logits"].numpy(), atol=1e-4, rtol=0)
        np.testing.assert_allclose(emb, ref["embedding"].numpy(), atol=1e-4, rtol=0)
