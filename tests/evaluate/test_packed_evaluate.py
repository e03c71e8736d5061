"""`audiocnn evaluate --data <packed folder>` scores a checkpoint by streaming the shards: the
metrics of the model run on every clip, for tar and HDF5, single- and multi-label; classes matched
by name; options that mean nothing for packed data refused."""

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from audiocnn.cli import main
from audiocnn.data.shards import PackOptions, SyntheticSource, pack
from audiocnn.errors import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from audiocnn.models import ModelBundle, create_model, save_checkpoint

SECONDS = 0.5


@pytest.fixture(scope="module")
def rate():
    return create_model("test_cnn", num_classes=2).sample_rate


def _checkpoint(path, classes, multilabel, order=None):
    torch.manual_seed(3)
    model = create_model("test_cnn", num_classes=len(classes)).eval()
    labels = list(classes) if order is None else [classes[i] for i in order]
    bundle = ModelBundle.for_model(model, labels=labels, task="multi-label" if multilabel else "single-label", clip_seconds=SECONDS)
    save_checkpoint(model, path, bundle)
    return model, labels


def _expected(model, labels, source, rate, multilabel):
    """The model on every clip of the source, outside the streaming path."""
    x = torch.from_numpy(np.stack([source.load(i, rate) for i in range(len(source))])).float()
    with torch.no_grad():
        logits = model(x)["logits"]
    cols = [labels.index(c) for c in source.classes]
    logits = logits[:, cols].numpy()
    y = np.zeros((len(source), len(source.classes)))
    for i in range(len(source)):
        y[i, source.record(i)["target"]] = 1
    if not multilabel:
        return {"accuracy": float(np.mean(logits.argmax(1) == y.argmax(1)))}
    p = 1 / (1 + np.exp(-logits))
    keep = [c for c in range(y.shape[1]) if 0 < y[:, c].sum() < len(y)]
    return {"mAP": float(np.mean([average_precision_score(y[:, c], p[:, c]) for c in keep])),
            "auc": float(np.mean([roc_auc_score(y[:, c], p[:, c]) for c in keep]))}


@pytest.mark.parametrize("fmt,multilabel,order", [("tar", False, None), ("hdf5", False, [2, 0, 3, 1]), ("tar", True, [1, 0, 2, 3])])
def test_packed_data_is_scored_like_the_model_on_every_clip(tmp_path, rate, capsys, fmt, multilabel, order):
    source = SyntheticSource(40, seconds=SECONDS, num_classes=4, multilabel=multilabel, seed=5)
    pack(source, tmp_path / "shards", PackOptions(format=fmt, codec="int16", sample_rate=rate,
                                                   shard_size=12, clip_seconds=SECONDS), progress=False)
    model, labels = _checkpoint(tmp_path / "m.pth", source.classes, multilabel, order)
    rc = main(["evaluate", "--checkpoint", str(tmp_path / "m.pth"), "--data", str(tmp_path / "shards"), "--out", str(tmp_path / "eval")])
    out, err = capsys.readouterr()
    assert rc == EXIT_OK
    assert err.strip().splitlines()[-1] == f"evaluate: 40 clip(s) scored; metrics: {tmp_path / 'eval' / 'metrics.json'}"
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["clips"] == 40 and json.loads(out)["clips"] == 40
    for k, v in _expected(model, labels, source, rate, multilabel).items():
        assert saved[k] == pytest.approx(v, abs=0.026 if k == "accuracy" else 0.01), k  # int16 storage may flip one clip


def test_unknown_classes_and_unused_options_are_refused(tmp_path, rate, capsys):
    source = SyntheticSource(12, seconds=SECONDS, num_classes=3, multilabel=False, seed=1)
    pack(source, tmp_path / "shards", PackOptions(sample_rate=rate, shard_size=12), progress=False)
    _checkpoint(tmp_path / "other.pth", ("dog", "cat", "class_2"), False)
    args = ["evaluate", "--checkpoint", str(tmp_path / "other.pth"), "--data", str(tmp_path / "shards")]
    assert main(args) == EXIT_ERROR
    assert "2 class(es) the checkpoint does not know (class_0, class_1)" in capsys.readouterr().err
    assert main([*args, "--fold", "1", "--adapt-bn"]) == EXIT_USAGE
    assert "--fold, --adapt-bn: not available when --data is a packed folder" in capsys.readouterr().err
