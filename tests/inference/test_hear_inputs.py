"""The HEAR functions check their audio once, at the boundary: each broken rule (shape, dtype,
emptiness, finiteness) is a ValueError whose message names that rule, from both entry points."""

import warnings

import numpy as np
import pytest
import torch

from audiocnn import hear


@pytest.fixture(scope="module", params=["test_cnn", "test_cnn_sed"])  # sliding windows, and frame-level features
def hmodel(request):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hear.load_model("", model_name=request.param)


def _sound(model, n=2, seconds=0.5):
    return torch.rand(n, int(seconds * model.sample_rate)) * 2 - 1


def _nan_in_sound_1(model):
    x = _sound(model, 3)
    x[1, 10] = float("nan")
    x[1, 20] = float("inf")
    return x


BAD = {
    "one sound, 1-D": (lambda m: _sound(m)[0], r"expected a 2-D batch \(n_sounds, n_samples\), got shape \(\d+,\)"),
    "3-D": (lambda m: _sound(m)[None], r"expected a 2-D batch .* got shape \(1, 2, \d+\)"),
    "int16 PCM": (lambda m: (_sound(m) * 32767).to(torch.int16), r"expected float samples in \[-1, 1\], got dtype torch.int16"),
    "int16 numpy": (lambda m: (_sound(m).numpy() * 32767).astype(np.int16), r"expected float samples .* got dtype torch.int16"),
    "booleans": (lambda m: _sound(m) > 0, r"expected float samples .* got dtype torch.bool"),
    "no sound": (lambda m: torch.zeros(0, m.sample_rate), r"expected at least one sound of at least one sample, got shape \(0, \d+\)"),
    "no sample": (lambda m: torch.zeros(2, 0), r"expected at least one sound of at least one sample, got shape \(2, 0\)"),
    "NaN and inf": (_nan_in_sound_1, r"every sample must be finite; sound\(s\) \[1\] hold 2 NaN/inf sample\(s\)"),
    "text": (lambda m: [["a", "b"]], r"expected a float tensor \(n_sounds, n_samples\), got list"),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("entry", ["get_scene_embeddings", "get_timestamp_embeddings"])
def test_each_broken_rule_is_named(hmodel, case, entry):
    make, says = BAD[case]
    with pytest.raises(ValueError, match="^HEAR audio: " + says):
        getattr(hear, entry)(make(hmodel), hmodel)


def test_valid_audio_of_any_float_dtype_and_container_passes(hmodel):
    x = _sound(hmodel)
    ref = hear.get_scene_embeddings(x, hmodel)
    for same in (x.double(), x.numpy(), x.numpy().astype(np.float64)):
        np.testing.assert_allclose(hear.get_scene_embeddings(same, hmodel), ref, atol=1e-5)
    with pytest.warns(UserWarning, match="zero-padded"):  # one sound of one sample: padded, embedded
        one = hear.get_scene_embeddings(x[:1, :1], hmodel)
    assert one.shape == (1, hmodel.scene_embedding_size) and torch.isfinite(one).all()
