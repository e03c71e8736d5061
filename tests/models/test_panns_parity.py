"""Same weights, same outputs: our PANNs models against the original PANNs code.

(a) ``cnn14`` and ``cnn14_decision_level_max`` against the ``panns_inference`` package (a copy
    of those two classes of the original ``models.py``), whenever that package is installed.
(b) every registered model whose ``info.checkpoint_class`` is a class of the original
    ``pytorch/models.py`` of qiuqiangkong/audioset_tagging_cnn (the paper's ablations
    ``Cnn14_emb*``, ``Cnn14_mel*``, ``Cnn14_no_*``, ``Cnn14_mixup_time_domain``,
    ``Cnn14_DecisionLevelAvg/Att`` and ``Wavegram_Logmel128_Cnn14`` included), when the
    environment variable ``AUDIOCNN_PANNS_REFERENCE`` points to that file (with its
    ``pytorch_utils.py`` beside it; torchlibrosa must be installed). The original code is not
    shipped with audiocnn. ``test_panns_variants.py`` checks the same variants' defining
    properties without it.

The reference model gets random weights *and* random BatchNorm statistics (otherwise BN is
near-identity and mistakes in normalisation axes would go unnoticed), is saved as an official
checkpoint (``{'model': state_dict}``) and loaded with ``create_model(name, checkpoint=...)``:
so the test also covers the real loading path, STFT-kernel check included.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

import audiocnn
from audiocnn.models._registry import model_family
from audiocnn.models.layers import PANNS_FRONTENDS

TOL = 1e-4


# --------------------------------------------------------------------------------------------
# loading the reference code


def _panns_inference_models():
    """``panns_inference.models`` imported without running the package ``__init__`` (which
    downloads the label CSV at import time)."""
    spec = importlib.util.find_spec("panns_inference")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("panns_inference is not installed (pip install panns-inference) ; parity test (a) skipped")
    pytest.importorskip("torchlibrosa", reason="panns_inference needs torchlibrosa")
    name = "_audiocnn_ref_panns_inference"
    if name not in sys.modules:
        pkg = types.ModuleType(name)
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules[name] = pkg
    return importlib.import_module(f"{name}.models")


def _original_models():
    """The original ``models.py`` named by ``AUDIOCNN_PANNS_REFERENCE``, imported under a private
    name; its ``from pytorch_utils import ...`` is served from the file beside it."""
    path = os.environ.get("AUDIOCNN_PANNS_REFERENCE")
    if not path:
        pytest.skip(
            "set AUDIOCNN_PANNS_REFERENCE=/path/to/audioset_tagging_cnn/pytorch/models.py "
            "(pytorch_utils.py beside it) to compare every PANNs model with the original code"
        )
    path = Path(path)
    utils = path.with_name("pytorch_utils.py")
    if not path.is_file() or not utils.is_file():
        pytest.fail(f"AUDIOCNN_PANNS_REFERENCE={path}: need models.py and pytorch_utils.py in the same folder")
    pytest.importorskip("torchlibrosa", reason="the original PANNs code needs torchlibrosa")
    name = "_audiocnn_ref_original_models"
    if name in sys.modules:
        return sys.modules[name]
    saved = sys.modules.get("pytorch_utils")
    try:
        uspec = importlib.util.spec_from_file_location("pytorch_utils", utils)
        umod = importlib.util.module_from_spec(uspec)
        uspec.loader.exec_module(umod)
        sys.modules["pytorch_utils"] = umod
        mspec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(mspec)
        mspec.loader.exec_module(mod)
    finally:
        if saved is None:
            sys.modules.pop("pytorch_utils", None)
        else:
            sys.modules["pytorch_utils"] = saved
    sys.modules[name] = mod
    return mod


# --------------------------------------------------------------------------------------------
# the comparison


def _randomise_batchnorm(model: nn.Module, logmel: torch.Tensor | None, gen: torch.Generator) -> None:
    """Random affine parameters and running statistics in every BatchNorm. ``bn0`` (on log-mel
    in dB) gets statistics near those of ``logmel`` ``(batch, frames, mels)`` so that the
    network input stays in a sensible range."""
    with torch.no_grad():
        for name, m in model.named_modules():
            if not isinstance(m, nn.modules.batchnorm._BatchNorm):
                continue
            c = m.num_features
            if name == "bn0" and logmel is not None and logmel.shape[-1] == c:
                mean, var = logmel.mean(dim=(0, 1)), logmel.var(dim=(0, 1))
                m.running_mean.copy_(mean + torch.randn(c, generator=gen))
                m.running_var.copy_(var * (0.5 + torch.rand(c, generator=gen)))
            else:
                m.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))
            m.weight.copy_(0.5 + torch.rand(c, generator=gen))
            m.bias.copy_(0.1 * torch.randn(c, generator=gen))


def _compare(name: str, ref_module, tmp_path: Path) -> dict[str, float]:
    """Build ``name``'s original class with random weights, load them into ours, compare the
    outputs; returns the max absolute difference per output."""
    probe = audiocnn.create_model(name)
    info = probe.info
    sr = info.sample_rate
    n_fft, hop, n_mels, fmin, fmax = PANNS_FRONTENDS[sr]
    # the mel-bin ablations (Cnn14_mel32/128, Wavegram_Logmel128_Cnn14) take their own count
    n_mels = getattr(getattr(probe, "logmel_extractor", None), "n_mels", n_mels)
    del probe
    gen = torch.Generator().manual_seed(1234)
    torch.manual_seed(1234)
    ref = getattr(ref_module, info.checkpoint_class)(sr, n_fft, hop, n_mels, fmin, fmax, 527)

    n = max(int(1.5 * sr), info.min_samples)
    x = 0.3 * torch.randn(2, n, generator=gen)
    logmel = None
    if hasattr(ref, "logmel_extractor"):
        with torch.no_grad():
            logmel = ref.logmel_extractor(ref.spectrogram_extractor(x))[:, 0]
    _randomise_batchnorm(ref, logmel, gen)
    ckpt = tmp_path / f"{info.checkpoint_class}.pth"
    torch.save({"model": ref.state_dict(), "iteration": 0}, ckpt)
    ours = audiocnn.create_model(name, checkpoint=ckpt)
    ckpt.unlink()

    ref.eval()
    ours.eval()
    with torch.no_grad():
        r = ref(x)
        o = ours(x)
    diffs = {}
    prob = torch.sigmoid(o["logits"])
    # meaningful only if the outputs vary: saturated sigmoids would agree trivially
    assert r["clipwise_output"].std() > 1e-3, f"{name}: reference output is degenerate; the test would be vacuous"
    torch.testing.assert_close(prob, r["clipwise_output"], rtol=TOL, atol=TOL)
    diffs["clipwise"] = (prob - r["clipwise_output"]).abs().max().item()
    if "embedding" in r:
        torch.testing.assert_close(o["embedding"], r["embedding"], rtol=TOL, atol=TOL)
        diffs["embedding"] = (o["embedding"] - r["embedding"]).abs().max().item()
    if "framewise_output" in r:
        fw = torch.sigmoid(o["framewise_logits"])
        assert fw.shape == r["framewise_output"].shape
        torch.testing.assert_close(fw, r["framewise_output"], rtol=TOL, atol=TOL)
        diffs["framewise"] = (fw - r["framewise_output"]).abs().max().item()
    else:
        assert not info.frame_level, f"{name} is frame-level but {info.checkpoint_class} returns no framewise_output"
    return diffs


def _report(name: str, diffs: dict[str, float]) -> None:
    print(f"{name}: " + ", ".join(f"max |diff| {k} {v:.2e}" for k, v in diffs.items()))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cnn14", "cnn14_decision_level_max"])
def test_matches_panns_inference(name, tmp_path):
    _report(name, _compare(name, _panns_inference_models(), tmp_path))


def _panns_family_models() -> list[str]:
    """Registered models of the PANNs families (modules ``panns*``), without building them."""
    return [n for n in audiocnn.list_models() if model_family(n).startswith("panns")]


_REFERENCE_SET = bool(os.environ.get("AUDIOCNN_PANNS_REFERENCE"))


@pytest.fixture(scope="module")
def original_models():
    return _original_models()


@pytest.mark.slow
@pytest.mark.skipif(not _REFERENCE_SET, reason=(
    "set AUDIOCNN_PANNS_REFERENCE=/path/to/audioset_tagging_cnn/pytorch/models.py to compare every "
    "PANNs model with the original code"))
@pytest.mark.parametrize("name", _panns_family_models() if _REFERENCE_SET else ["every_panns_model"])
def test_matches_original_code(name, original_models, tmp_path):
    info = audiocnn.create_model(name, num_classes=1).info
    if not info.checkpoint_class:
        pytest.skip(f"{name} has no checkpoint class of the original code")
    if not hasattr(original_models, info.checkpoint_class):
        pytest.fail(f"{name}: checkpoint_class {info.checkpoint_class!r} is not a class of the original models.py")
    _report(name, _compare(name, original_models, tmp_path))
