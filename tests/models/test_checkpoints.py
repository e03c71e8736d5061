"""Checkpoint compatibility with the official PANNs releases, from their key lists.

``../shared/reference/panns_checkpoint_keys/keys_<Class>.txt`` lists every state-dict entry of an
official checkpoint (``name<TAB>shape<TAB>dtype``). The tests build state dicts in that layout,
save them as the releases are saved (``{'model': sd, 'iteration': ...}``) and load them through
``create_model(name, checkpoint=...)``.
"""

from __future__ import annotations

import fnmatch
import math
from pathlib import Path

import pytest
import torch

import audiocnn
from audiocnn.models import CheckpointError, ModelBundle, read_checkpoint, save_checkpoint
from audiocnn.models._registry import get_model_builder

KEYS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "panns_checkpoint_keys"
STFT_KEYS = ("spectrogram_extractor.stft.conv_real.weight", "spectrogram_extractor.stft.conv_imag.weight")

# class name of the original code -> registry name
CLASS_TO_MODEL = {
    "Cnn6": "cnn6",
    "Cnn10": "cnn10",
    "Cnn14": "cnn14",
    "Cnn14_16k": "cnn14_16k",
    "Cnn14_8k": "cnn14_8k",
    "Cnn14_DecisionLevelMax": "cnn14_decision_level_max",
    "Cnn14_DecisionLevelAvg": "cnn14_decision_level_avg",
    "Cnn14_DecisionLevelAtt": "cnn14_decision_level_att",
    "Cnn14_emb512": "cnn14_emb512",
    "Cnn14_emb128": "cnn14_emb128",
    "Cnn14_emb32": "cnn14_emb32",
    "Cnn14_mel32": "cnn14_mel32",
    "Cnn14_mel128": "cnn14_mel128",
    "Cnn14_no_specaug": "cnn14_no_specaug",
    "Cnn14_no_dropout": "cnn14_no_dropout",
    "Cnn14_mixup_time_domain": "cnn14_mixup_time_domain",
    "ResNet22": "resnet22",
    "ResNet38": "resnet38",
    "ResNet54": "resnet54",
    "MobileNetV1": "mobilenet_v1",
    "MobileNetV2": "mobilenet_v2",
    "LeeNet11": "leenet11",
    "LeeNet24": "leenet24",
    "DaiNet19": "dainet19",
    "Res1dNet31": "res1dnet31",
    "Res1dNet51": "res1dnet51",
    "Wavegram_Cnn14": "wavegram_cnn14",
    "Wavegram_Logmel_Cnn14": "wavegram_logmel_cnn14",
    "Wavegram_Logmel128_Cnn14": "wavegram_logmel128_cnn14",
}


def _key_files() -> list[Path]:
    return sorted(KEYS_DIR.glob("keys_*.txt")) if KEYS_DIR.is_dir() else []


def _reference(cls: str) -> dict[str, tuple[tuple[int, ...], str]]:
    path = KEYS_DIR / f"keys_{cls}.txt"
    if not path.exists():
        pytest.skip(f"{path} not found (the reference key lists live in ../shared/reference beside the repository)")
    ref = {}
    for line in path.read_text().splitlines():
        if line.strip():
            name, shape, dtype = line.split("\t")
            ref[name] = (tuple(int(s) for s in shape.strip("()").split(",") if s.strip()), dtype)
    return ref


def _hann_dft_kernels(n_fft: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed kernels the original STFT convolution stores: periodic Hann times cos / -sin."""
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
    window = 0.5 - 0.5 * torch.cos(2 * math.pi * n / n_fft)
    ang = 2 * math.pi * k[:, None] * n[None, :] / n_fft
    return (torch.cos(ang) * window).float()[:, None, :], (-torch.sin(ang) * window).float()[:, None, :]


def _official_state_dict(cls: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict in the official layout with random values (STFT kernels exact)."""
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for name, (shape, dtype) in _reference(cls).items():
        if dtype == "torch.int64":
            sd[name] = torch.randint(0, 1000, shape, generator=gen, dtype=torch.int64)
        elif name.endswith("running_var"):
            sd[name] = 0.5 + torch.rand(shape, generator=gen)
        else:
            sd[name] = torch.randn(shape, generator=gen)
    if STFT_KEYS[0] in sd:
        real, imag = _hann_dft_kernels(sd[STFT_KEYS[0]].shape[-1])
        sd[STFT_KEYS[0]], sd[STFT_KEYS[1]] = real, imag
    return sd


def _save(sd: dict, path: Path) -> Path:
    torch.save({"model": sd, "iteration": 0}, path)
    return path


def _ignored(model, key: str) -> bool:
    return any(fnmatch.fnmatch(key, p) for p in model.info.ignored_checkpoint_keys)


# --------------------------------------------------------------------------------------------
# layout


def test_every_reference_class_is_mapped():
    files = _key_files()
    if not files:
        pytest.skip(f"{KEYS_DIR} not found")
    classes = {f.stem[len("keys_") :] for f in files}
    assert classes <= set(CLASS_TO_MODEL), f"no registry name for {sorted(classes - set(CLASS_TO_MODEL))}"


@pytest.mark.parametrize("cls", sorted(CLASS_TO_MODEL))
def test_state_dict_layout_equals_the_official_one(cls):
    ref = _reference(cls)
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = get_model_builder(CLASS_TO_MODEL[cls])(num_classes=527)
    assert model.info.checkpoint_class == cls
    expected = {k: shape for k, (shape, _) in ref.items() if k not in STFT_KEYS and not _ignored(model, k)}
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert set(own) == set(expected), (
        f"missing in ours: {sorted(set(expected) - set(own))[:10]}; extra in ours: {sorted(set(own) - set(expected))[:10]}"
    )
    bad = {k: (own[k], expected[k]) for k in own if own[k] != expected[k]}
    assert not bad, f"shapes differ (ours, official): {bad}"


# --------------------------------------------------------------------------------------------
# round trips (small architectures: a Cnn14-size file is 300 MB)


@pytest.mark.parametrize("cls", ["Cnn6", "MobileNetV1", "MobileNetV2", "LeeNet11", "DaiNet19"])
def test_official_checkpoint_round_trip(cls, tmp_path):
    sd = _official_state_dict(cls)
    model = audiocnn.create_model(CLASS_TO_MODEL[cls], checkpoint=_save(sd, tmp_path / f"{cls}_mAP=0.1.pth"))
    assert model.num_classes == 527 and not model.training
    own = model.state_dict()
    for k, v in own.items():
        assert torch.equal(v, sd[k]), f"{cls}: {k} did not arrive"
    with torch.no_grad():
        out = model(0.1 * torch.randn(1, max(model.info.min_samples, model.sample_rate // 2)))
    assert torch.isfinite(out["logits"]).all()


def test_wrong_stft_kernel_is_rejected(tmp_path):
    sd = _official_state_dict("Cnn6")
    sd[STFT_KEYS[0]] = torch.randn_like(sd[STFT_KEYS[0]])
    with pytest.raises(CheckpointError, match="conv_real.weight: not a Hann-windowed DFT"):
        audiocnn.create_model("cnn6", checkpoint=_save(sd, tmp_path / "bad.pth"))


@pytest.mark.parametrize("problem", ["missing", "unexpected", "misshapen", "all"])
def test_mismatched_checkpoint_lists_every_problem(problem, tmp_path):
    sd = _official_state_dict("Cnn6")
    expected = []
    if problem in ("missing", "all"):
        del sd["conv_block3.bn1.running_mean"]
        expected.append("missing key conv_block3.bn1.running_mean (256,)")
    if problem in ("unexpected", "all"):
        sd["conv_block9.conv1.weight"] = torch.zeros(8, 8, 3, 3)
        expected.append("unexpected key conv_block9.conv1.weight (8, 8, 3, 3)")
    if problem in ("misshapen", "all"):
        sd["conv_block2.conv1.weight"] = torch.zeros(128, 32, 5, 5)
        expected.append("checkpoint key conv_block2.conv1.weight: expected (128, 64, 5, 5), got (128, 32, 5, 5)")
    path = _save(sd, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError) as err:
        audiocnn.create_model("cnn6", checkpoint=path)
    msg = str(err.value)
    assert str(path) in msg and f"{len(expected)} problem(s)" in msg
    for line in expected:
        assert line in msg


def test_misshapen_head_with_other_problems_is_not_mistaken_for_transfer(tmp_path):
    sd = _official_state_dict("Cnn6")
    sd["fc_audioset.weight"] = torch.zeros(10, 512)
    sd["fc_audioset.bias"] = torch.zeros(10)
    del sd["bn0.running_var"]
    with pytest.raises(CheckpointError, match="missing key bn0.running_var"):
        audiocnn.create_model("cnn6", checkpoint=_save(sd, tmp_path / "x.pth"))


@pytest.mark.parametrize("cls", ["Cnn6", "MobileNetV2"])
def test_transfer_fresh_head_and_pretrained_backbone(cls, tmp_path):
    sd = _official_state_dict(cls, seed=3)
    model = audiocnn.create_model(CLASS_TO_MODEL[cls], num_classes=10, checkpoint=_save(sd, tmp_path / "ckpt.pth"))
    assert model.num_classes == 10
    head = model.info.classifier + "."
    own = model.state_dict()
    assert own[head + "weight"].shape == (10, sd[head + "weight"].shape[1])
    # a fresh head: xavier init and zero bias, not a slice of the checkpoint's head
    assert torch.count_nonzero(own[head + "bias"]) == 0
    assert not torch.equal(own[head + "weight"], sd[head + "weight"][:10])
    for k, v in own.items():
        if not k.startswith(head):
            assert torch.equal(v, sd[k]), f"backbone key {k} not loaded"
    with torch.no_grad():
        assert model(torch.randn(2, model.sample_rate))["logits"].shape == (2, 10)


@pytest.mark.parametrize("name", ["test_resnet", "test_mobilenet"])
def test_save_checkpoint_round_trip(name, tmp_path):
    model = audiocnn.create_model(name, num_classes=3)
    with torch.no_grad():  # make the BN statistics non-default so that they are checked too
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
    bundle = ModelBundle.for_model(model, labels=["a", "b", "c"])
    path = save_checkpoint(model, tmp_path / "sub" / "model.pth", bundle=bundle)
    assert path.exists() and not list(path.parent.glob(".*tmp*"))
    sd, meta = read_checkpoint(path)
    assert meta["model"] == name and meta["num_classes"] == 3 and meta["labels"] == ["a", "b", "c"]
    loaded = audiocnn.create_model(name, checkpoint=path)
    assert loaded.num_classes == 3
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    x = torch.randn(2, loaded.info.min_samples + 1000)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["logits"], model.eval()(x)["logits"])
