"""Streaming training on packed data: outputs, exact mid-epoch resume, HDF5 with the exact
balanced sampler, and the errors a user meets first."""

import json

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from audiocnn.data.shards import PackOptions, SyntheticSource, pack
from audiocnn.models import create_model
from audiocnn.train import TrainConfig
from audiocnn.train.stream import StreamOptions, fit_stream, split_validation

NO_NOISE = {"conv_dropout": 0.0, "fc_dropout": 0.0, "spec_augment": False}  # deterministic forward passes


@pytest.fixture(scope="module")
def rate():
    return create_model("test_cnn", num_classes=2).sample_rate


@pytest.fixture(scope="module")
def tar_shards(tmp_path_factory, rate):
    root = tmp_path_factory.mktemp("packed")
    return pack(SyntheticSource(120, seconds=0.5, num_classes=4, seed=1), root / "tar", PackOptions(sample_rate=rate, shard_size=20), progress=False)


def _config(**kw):
    base = dict(model="test_cnn", model_kwargs=NO_NOISE, epochs=2, batch_size=8, lr=3e-3, patience=0, progress=False, clip_seconds=0.4, val_fraction=0.1)
    return TrainConfig(**{**base, **kw})


class _Kill(Callback):
    """Stops the run before step ``at`` (after the checkpoint of step ``at`` - 1 was written)."""

    def __init__(self, at):
        self.at = at

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.at:
            raise RuntimeError("killed")


def test_fit_stream_writes_a_run(tar_shards, tmp_path):
    fit = fit_stream(tar_shards.root, _config(), tmp_path / "run", StreamOptions(shuffle_buffer=16))
    train, val = split_validation(tar_shards, 0.1, 0)
    assert len(val) == 1 and len(train) == 5
    steps = 100 // 8
    assert [h["epoch"] for h in fit.history] == [1, 2] and all("val_score" in h for h in fit.history)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["global_step"] == 2 * steps and run["best_epoch"] == fit.best_epoch
    assert len(json.loads((tmp_path / "run" / "train_steps.json").read_text())["loss"]) == 2 * steps
    assert (tmp_path / "run" / "best.pth").exists()
    last = torch.load(tmp_path / "run" / "lightning" / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == 2 * steps  # written at every epoch end, whether or not it improved
    with pytest.raises(ValueError, match="already holds a run"):
        fit_stream(tar_shards.root, _config(), tmp_path / "run")


class _LearningRates(Callback):
    def __init__(self):
        self.lrs = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_fit_stream_follows_the_configs_step_budget(tar_shards, tmp_path):
    # 12 steps an epoch: a budget of 17 ends inside the second epoch, whatever --epochs says,
    # and the cosine schedule reaches its end at the budget, not at the end of 5 epochs
    lrs = _LearningRates()
    fit = fit_stream(tar_shards.root, _config(epochs=5, max_steps=17, warmup_epochs=0, schedule="cosine"), tmp_path / "run",
                     StreamOptions(shuffle_buffer=16), extra_callbacks=[lrs])
    assert len(fit.steps) == 17 and len(lrs.lrs) == 17
    assert json.loads((tmp_path / "run" / "run.json").read_text())["global_step"] == 17
    assert lrs.lrs[0] == pytest.approx(3e-3) and lrs.lrs[-1] < 0.01 * 3e-3  # cosine: near zero at the last step


@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.slow)])
def test_killed_run_resumes_mid_epoch_with_the_same_batches(tar_shards, tmp_path, workers):
    cfg = _config(num_workers=workers)
    whole = fit_stream(tar_shards.root, cfg, tmp_path / "a", StreamOptions(shuffle_buffer=16))
    opt = StreamOptions(shuffle_buffer=16, checkpoint_every=1)
    with pytest.raises(RuntimeError, match="killed"):
        fit_stream(tar_shards.root, cfg, tmp_path / "b", opt, extra_callbacks=[_Kill(5)])
    ckpt = torch.load(tmp_path / "b" / "lightning" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 5
    resumed = fit_stream(tar_shards.root, cfg, tmp_path / "b", opt, resume=True)
    assert len(resumed.steps) == len(whole.steps)
    np.testing.assert_allclose(resumed.steps, whole.steps, rtol=1e-5)
    assert resumed.history[-1]["val_loss"] == pytest.approx(whole.history[-1]["val_loss"], rel=1e-5)


def test_hdf5_with_balanced_sampler(tmp_path, rate):
    pytest.importorskip("h5py")
    idx = pack(SyntheticSource(96, seconds=0.4, num_classes=4, seed=2), tmp_path / "h5",
               PackOptions(format="hdf5", sample_rate=rate, shard_size=32, clip_seconds=0.4), progress=False)
    fit = fit_stream(idx.root, _config(balanced=True, epochs=1), tmp_path / "run")
    assert len(fit.steps) == 64 // 8  # two training files of 32 clips, one held out
    assert all(np.isfinite(fit.steps)) and "val_metric" in fit.history[0]


def test_sample_rate_must_match_the_model(tmp_path, rate):
    idx = pack(SyntheticSource(20, seconds=0.2, num_classes=2), tmp_path / "s", PackOptions(sample_rate=rate // 2), progress=False)
    with pytest.raises(ValueError, match=f"pack again with --sample-rate {rate}"):
        fit_stream(idx.root, _config(), tmp_path / "run")
