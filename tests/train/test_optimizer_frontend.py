"""The optimiser settings (weight decay with Adam, AMSGrad) and front-end settings from the command line."""

from __future__ import annotations

import pytest
import torch

import audiocnn
from audiocnn.cli import build_parser, main
from audiocnn.cli.train import config_from_args
from audiocnn.train import AudioClassifier, TrainConfig


def _optimizer(**kw):
    model = audiocnn.create_model("test_cnn", num_classes=3)
    cfg = TrainConfig(model="test_cnn", progress=False, **kw)
    return model, AudioClassifier(model, cfg, multilabel=False, steps_per_epoch=1).configure_optimizers()["optimizer"]


@pytest.mark.parametrize("name, cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_weight_decay_and_amsgrad_reach_the_optimizer(name, cls):
    _, opt = _optimizer(optimizer=name, weight_decay=1e-3, amsgrad=True)
    assert type(opt) is cls
    group = opt.param_groups[0]
    assert group["weight_decay"] == 1e-3 and group["amsgrad"] is True


@pytest.mark.parametrize("wd, moves", [(0.0, False), (0.1, True)])
def test_adam_weight_decay_acts_as_an_l2_gradient(wd, moves):
    model, opt = _optimizer(optimizer="adam", weight_decay=wd, lr=1e-2)
    w = model.fc1.weight
    before = w.detach().clone()
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    assert (not torch.equal(before, w.detach())) is moves


def test_front_end_settings_through_model_args():
    args = build_parser().parse_args(["train", "--data", "x", "--model", "test_cnn", "--model-arg", "hop_size=160",
                                      "--model-arg", "window_size=512", "--model-arg", "fmin=20", "--model-arg", "fmax=7000",
                                      "--model-arg", "n_mels=32", "--model-arg", "sample_rate=16000"])
    cfg = config_from_args(args)
    assert cfg.model_kwargs == {"hop_size": 160, "window_size": 512, "fmin": 20.0, "fmax": 7000.0, "n_mels": 32, "sample_rate": 16000}
    model = audiocnn.create_model(cfg.model, num_classes=2, **cfg.model_kwargs)
    fe = model.logmel_extractor
    assert (fe.n_fft, fe.hop_length, fe.n_mels, fe.f_min, fe.f_max) == (512, 160, 32, 20.0, 7000.0)
    assert model.info.frame_rate == 100.0 and model.bn0.num_features == 32
    x = torch.randn(1, 16000)
    assert model.eval()(x)["logits"].shape == (1, 2)


def test_another_sample_rate_needs_the_whole_front_end():
    model = audiocnn.create_model("test_cnn", num_classes=2, sample_rate=44100, window_size=2048, hop_size=441, fmax=16000)
    assert model.sample_rate == 44100 and model.info.frame_rate == 100.0
    with pytest.raises(ValueError, match="give window_size, hop_size and fmax"):
        audiocnn.create_model("test_cnn", num_classes=2, sample_rate=44100)
    with pytest.raises(ValueError, match="fmax"):
        audiocnn.create_model("test_cnn", num_classes=2, sample_rate=16000, fmax=9000)


def test_compact_models_keep_the_given_window_and_hop():
    model = audiocnn.create_model("cnn6_lite", num_classes=2, window_size=1024, hop_size=256, fmax=7000)
    fe = model.logmel_extractor
    assert (fe.n_fft, fe.hop_length, fe.f_max) == (1024, 256, 7000.0) and model.info.frame_rate == model.sample_rate / 256


def test_help_documents_the_front_end_settings(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for word in ("window_size", "hop_size", "n_mels", "fmin", "fmax", "sample_rate", "frames per second"):
        assert word in out
