import json
import warnings

import numpy as np
import pytest
import torch

from audiocnn.audio import Windowing
from audiocnn.models import (
    BundleError,
    ModelBundle,
    create_model,
    from_pretrained,
    infer_model_name,
    load_model,
    save_checkpoint,
    save_pretrained,
)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return create_model("test_cnn", num_classes=3)


def _trained_bundle(model, **kw):
    return ModelBundle.for_model(model, labels=["a", "b", "c"], task="single-label", clip_seconds=1.5, hop_seconds=0.75,
                                 training={"config": {"epochs": 1}}, **kw)


def test_dict_round_trip_and_format_version(model):
    b = _trained_bundle(model, model_args={"dropout": 0.1})
    d = json.loads(json.dumps(b.to_dict()))
    assert ModelBundle.from_dict(d) == b
    assert d["bundle_format"] == 1 and d["windowing"] == {"clip_seconds": 1.5, "hop_seconds": 0.75, "pad_short": True, "aggregate": "mean"}
    with pytest.raises(BundleError, match="format 99"):
        ModelBundle.from_dict({**d, "bundle_format": 99})
    with pytest.raises(BundleError, match="'labels'"):
        ModelBundle.from_dict({k: v for k, v in d.items() if k != "labels"})
    with pytest.raises(BundleError, match="2 labels for 3 outputs"):
        ModelBundle.from_dict({**d, "labels": ["a", "b"]})


def test_activation_follows_the_task(model):
    logits = np.array([[1.0, 2.0, 3.0]])
    single = _trained_bundle(model)
    multi = single.replace(task="multi-label")
    assert single.activation == "softmax" and multi.activation == "sigmoid"
    np.testing.assert_allclose(single.probabilities(logits).sum(), 1.0, atol=1e-6)
    np.testing.assert_allclose(multi.probabilities(logits), 1 / (1 + np.exp(-logits)), atol=1e-6)
    torch.testing.assert_close(single.probabilities(torch.tensor(logits)), torch.softmax(torch.tensor(logits).float(), -1))


def test_metadata_of_older_checkpoints_is_converted():
    # what audiocnn 0.1 wrote for a single-label model: the key is "multilabel"
    meta = {"name": "test_cnn", "num_classes": 2, "labels": ["x", "y"], "multilabel": False, "clip_seconds": 0.5,
            "sample_rate": 32000, "config": {"model_kwargs": {"init": "random", "dropout": 0.2}}}
    b = ModelBundle.from_checkpoint_metadata(meta)
    assert b.task == "single-label" and b.activation == "softmax" and b.labels == ("x", "y")
    assert b.windowing == Windowing(0.5, 0.25, pad_short=True) and b.model_args == {"dropout": 0.2}
    assert ModelBundle.from_checkpoint_metadata({}) is None  # an official PANNs file


def test_official_defaults_and_overrides(model):
    official = ModelBundle.for_model(model)
    assert official.task == "multi-label" and official.windowing == Windowing(10.0, None, pad_short=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an untrained model's defaults are replaced silently
        assert official.with_overrides(clip_seconds=2.0).windowing.clip_seconds == 2.0
    trained = _trained_bundle(model)
    with pytest.warns(UserWarning, match="aggregate='max' overrides 'mean'"):
        assert trained.with_overrides(aggregate="max").windowing.aggregate == "max"
    with pytest.warns(UserWarning, match="task='multi-label' overrides"):
        assert trained.with_overrides(activation="sigmoid").activation == "sigmoid"
    with pytest.raises(ValueError, match="2 labels given but the model has 3 outputs"):
        trained.with_overrides(labels=["a", "b"])


def test_checkpoint_and_model_folder_round_trip(model, tmp_path):
    bundle = _trained_bundle(model)
    save_checkpoint(model, tmp_path / "m.pth", bundle)
    save_pretrained(model, bundle, tmp_path / "folder")
    assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == ["config.json", "model.safetensors"]
    x = 0.1 * torch.randn(2, 16000)
    with torch.no_grad():
        ref = model.eval()(x)["logits"]
    for source in (tmp_path / "m.pth", tmp_path / "folder"):
        net, got = load_model(source)
        assert got == bundle and net.info.name == "test_cnn"
        with torch.no_grad():
            torch.testing.assert_close(net(x)["logits"], ref)
    net, got = from_pretrained(tmp_path / "folder")
    assert got.labels == ("a", "b", "c")
    with pytest.raises(BundleError, match="describes test_cnn with 3 classes"):
        save_pretrained(create_model("test_cnn", num_classes=4), bundle, tmp_path / "bad")


def test_model_folder_errors_name_the_file(model, tmp_path):
    save_pretrained(model, _trained_bundle(model), tmp_path / "f")
    (tmp_path / "f" / "model.safetensors").write_bytes(b"truncated")
    with pytest.raises(Exception, match="model.safetensors"):
        load_model(tmp_path / "f")
    (tmp_path / "g").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json missing"):
        load_model(tmp_path / "g")


def test_official_file_names_name_their_model(tmp_path):
    assert infer_model_name("Cnn14_mAP=0.431.pth") == "cnn14"
    assert infer_model_name("/x/Cnn14_DecisionLevelMax_mAP=0.385.pth") == "cnn14_decision_level_max"
    assert infer_model_name("MobileNetV1_mAP=0.389.pth") == "mobilenet_v1"
    assert infer_model_name("my_weights.pth") is None
    torch.save({"model": create_model("test_cnn", num_classes=527).state_dict()}, tmp_path / "my_weights.pth")
    with pytest.raises(BundleError, match="pass --model"):
        load_model(tmp_path / "my_weights.pth")
    net, bundle = load_model(tmp_path / "my_weights.pth", "test_cnn")
    assert bundle.task == "multi-label" and net.num_classes == 527
