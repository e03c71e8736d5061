"""A checkpoint written by `audiocnn train` rebuilds with the architecture arguments it was trained with."""

import pytest
import torch

import audiocnn
from audiocnn.models import ModelBundle, load_model, save_checkpoint


def test_checkpoint_brings_its_model_args(tmp_path):
    trained = audiocnn.create_model("cnn_tiny", num_classes=4, sample_rate=8000, n_mels=32, fc_dropout=0.1)
    model_args = {"sample_rate": 8000, "n_mels": 32, "fc_dropout": 0.1, "init": "random"}
    bundle = ModelBundle.for_model(trained, labels=list("abcd"), model_args=model_args)
    path = save_checkpoint(trained, tmp_path / "best.pth", bundle=bundle)
    # the default cnn_tiny is 16 kHz / 64 mel bins: without the stored arguments this cannot load
    with pytest.raises(Exception):
        audiocnn.create_model("cnn_tiny", checkpoint=path, sample_rate=16000, n_mels=64)
    m = audiocnn.create_model("cnn_tiny", checkpoint=path)
    assert m.sample_rate == 8000 and m.num_classes == 4
    x = torch.randn(1, 8000)
    torch.testing.assert_close(m(x)["logits"], trained.eval()(x)["logits"])
    assert m.fc_dropout == 0.1  # stored
    # an explicit argument wins over the stored one
    assert audiocnn.create_model("cnn_tiny", checkpoint=path, fc_dropout=0.5).fc_dropout == 0.5
    # another model name does not inherit them
    with pytest.raises(Exception):
        audiocnn.create_model("cnn_small", checkpoint=path)


def test_bundle_without_model_args_rebuilds_at_its_sample_rate(tmp_path):
    """A bundle made by ModelBundle.for_model without model_args still records the model's rate:
    the model is rebuilt at it (the front-end of another rate would not fit the weights)."""
    trained = audiocnn.create_model("cnn_tiny", num_classes=3, sample_rate=8000).eval()
    path = save_checkpoint(trained, tmp_path / "best.pth", bundle=ModelBundle.for_model(trained, labels=list("abc")))
    model, bundle = load_model(path)
    assert model.sample_rate == bundle.sample_rate == 8000
    x = torch.randn(1, 8000)
    torch.testing.assert_close(model(x)["logits"], trained(x)["logits"])
    # with a new head for transfer as well
    assert audiocnn.create_model("cnn_tiny", checkpoint=path, num_classes=5).sample_rate == 8000
