"""Training pieces: atomic checkpoints, schedules, transfer modes."""

import os

import numpy as np
import pytest
import torch

import audiocnn
from audiocnn.models import ModelBundle, load_model, save_checkpoint
from audiocnn.train import AtomicCheckpointIO, TrainConfig, fit_fold, lr_lambda
from audiocnn.train import loop as train_loop


def _crashing_save(obj, f, *a, **k):
    with open(f, "wb") as fh:
        fh.write(b"half a checkpoint")
    raise OSError("killed mid-write")


def test_atomic_checkpoint_io_keeps_old_file_on_crash(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "epoch": 1}, path)
    monkeypatch.setattr(train_loop.torch, "save", _crashing_save)
    with pytest.raises(OSError, match="mid-write"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "epoch": 2}, path)
    monkeypatch.undo()
    old = torch.load(path, weights_only=True)
    assert old["epoch"] == 1 and torch.equal(old["state_dict"]["w"], torch.ones(3))
    assert os.listdir(tmp_path) == ["last.ckpt"]  # no temporary left behind


def test_best_model_export_is_atomic(tmp_path, monkeypatch):
    from audiocnn.models import _checkpoint

    model = audiocnn.create_model("test_cnn", num_classes=3)
    path = save_checkpoint(model, tmp_path / "best.pth", ModelBundle.for_model(model, labels=["a", "b", "c"]))
    monkeypatch.setattr(_checkpoint.torch, "save", _crashing_save)
    other = audiocnn.create_model("test_cnn", num_classes=3)
    with pytest.raises(OSError, match="mid-write"):
        save_checkpoint(other, path, ModelBundle.for_model(other, labels=["x", "y", "z"]))
    monkeypatch.undo()
    reloaded, bundle = load_model(path)
    assert bundle.labels == ("a", "b", "c")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reloaded.state_dict().values()))


def test_lr_schedule_warmup_then_cosine_or_step():
    cfg = TrainConfig(epochs=10, warmup_epochs=2, schedule="cosine")
    f = lr_lambda(cfg, steps_per_epoch=5)
    assert f(0) == pytest.approx(1 / 10) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0)  # cosine starts at the peak
    assert f(30) == pytest.approx(0.5)  # half way through the 40 cosine steps
    assert f(49) < 0.01
    g = lr_lambda(TrainConfig(epochs=30, warmup_epochs=0, schedule="step", step_epochs=10, gamma=0.1), steps_per_epoch=4)
    assert g(0) == 1.0 and g(39) == 1.0 and g(40) == pytest.approx(0.1) and g(80) == pytest.approx(0.01)


def test_lr_schedule_spans_max_steps_when_set():
    f = lr_lambda(TrainConfig(epochs=10, max_steps=100, warmup_epochs=0, schedule="cosine"), steps_per_epoch=5)
    assert f(50) == pytest.approx(0.5) and f(99) < 0.001  # over 100 steps, not 10 epochs x 5 steps


def test_step_schedule_validates_every_n_steps_across_epoch_ends(tmp_path, make_tones):
    # PANNs-style: a step budget whatever --epochs says, validation every N steps; the selected
    # weights are those of the best validation, wherever it fell within an epoch
    man, cache = _tone_data(tmp_path, make_tones)
    idx = np.arange(len(man.items))
    train, val = idx[::2], idx[1::2]
    per_epoch = len(train) // 4
    every, total = per_epoch + 1, 3 * per_epoch + 2  # never at an epoch's end
    cfg = TrainConfig(model="test_cnn", epochs=1, max_steps=total, val_every=every, batch_size=4, patience=0, progress=False)
    fit = fit_fold(man, train, val, cfg, cache, 0.5, tmp_path / "fold")
    assert [h["step"] for h in fit.history] == list(range(every, total + 1, every))
    assert all(np.isfinite(h["val_score"]) for h in fit.history)
    assert fit.history[-1]["epoch"] == 3  # --epochs 1 did not stop it
    last = torch.load(tmp_path / "fold" / "lightning" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == total
    best = max(fit.history, key=lambda h: h["val_score"])
    saved = torch.load(tmp_path / "fold" / "lightning" / "best.ckpt", map_location="cpu", weights_only=True)
    assert saved["global_step"] == best["step"] and fit.best_epoch == best["epoch"]


def test_transfer_modes_are_checked():
    with pytest.raises(ValueError, match="needs --checkpoint"):
        TrainConfig(mode="linear")
    with pytest.raises(ValueError, match="scratch"):
        TrainConfig(mode="scratch", checkpoint="x.pth")
    assert TrainConfig(checkpoint="x.pth").mode == "finetune"


def _tone_data(tmp_path, make_tones):
    from audiocnn.data import AudioCache, load_manifest

    man = load_manifest(make_tones(tmp_path / "data"))
    return man, AudioCache(32000)


def test_linear_mode_trains_only_a_new_head(tmp_path, make_tones):
    man, cache = _tone_data(tmp_path, make_tones)
    pre = audiocnn.create_model("test_cnn", num_classes=5)  # "pretrained" on 5 other classes
    with torch.no_grad():
        for p in pre.parameters():
            p.add_(0.01 * torch.randn_like(p))
    ckpt = save_checkpoint(pre, tmp_path / "pre.pth")
    cfg = TrainConfig(model="test_cnn", checkpoint=str(ckpt), mode="linear", epochs=2, batch_size=4, patience=0, progress=False)
    idx = np.arange(len(man.items))
    fit = fit_fold(man, idx[::2], idx[1::2], cfg, cache, 0.5, tmp_path / "fold")
    after = fit.model.state_dict()
    before = pre.state_dict()
    head = fit.model.info.classifier + "."
    assert fit.model.num_classes == 3
    for k, v in after.items():
        if k.startswith(head) or "num_batches_tracked" in k:
            continue
        assert torch.equal(v, before[k]), f"{k} changed in linear mode"
    assert len(fit.history) == 2


def test_finetune_starts_from_checkpoint_weights(tmp_path, make_tones):
    man, cache = _tone_data(tmp_path, make_tones)
    pre = audiocnn.create_model("test_cnn", num_classes=3)
    ckpt = save_checkpoint(pre, tmp_path / "pre.pth", ModelBundle.for_model(pre, labels=["high", "low", "mid"]))
    cfg = TrainConfig(model="test_cnn", checkpoint=str(ckpt), epochs=1, batch_size=4, lr=1e-12, warmup_epochs=0,
                      weight_decay=0.0, patience=0, progress=False)
    idx = np.arange(len(man.items))
    fit = fit_fold(man, idx[::2], idx[1::2], cfg, cache, 0.5, tmp_path / "fold")
    conv = "conv_block1.conv1.weight"
    assert torch.allclose(fit.model.state_dict()[conv], pre.state_dict()[conv], atol=1e-6)
    # same labels in the same order: the head is kept too
    assert torch.allclose(fit.model.fc_audioset.weight, pre.fc_audioset.weight, atol=1e-6)


@pytest.mark.parametrize("options", [{"mixup": 0.4}, {"speed_perturb": 0.15}, {"balanced": True}, {"optimizer": "adam", "schedule": "step"}])
def test_training_options_run(tmp_path, make_tones, options):
    man, cache = _tone_data(tmp_path, make_tones)
    cfg = TrainConfig(model="test_cnn", epochs=1, batch_size=4, patience=0, progress=False, **options)
    idx = np.arange(len(man.items))
    fit = fit_fold(man, idx[::2], idx[1::2], cfg, cache, 0.5, tmp_path / "fold")
    assert len(fit.history) == 1 and np.isfinite(fit.history[0]["train_loss"])
    assert np.isfinite(fit.history[0]["val_loss"])


def test_soft_target_loss_matches_hand_computation():
    from audiocnn.train import AudioClassifier

    model = audiocnn.create_model("test_cnn", num_classes=3)
    mod = AudioClassifier(model, TrainConfig(), multilabel=False, steps_per_epoch=1)
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    soft = torch.tensor([[0.7, 0.3, 0.0]])  # what mixup of classes 0 and 1 gives
    logp = torch.log_softmax(logits, -1)
    assert mod._loss(logits, soft).item() == pytest.approx(-(0.7 * logp[0, 0] + 0.3 * logp[0, 1]).item(), rel=1e-6)
    tag = AudioClassifier(model, TrainConfig(), multilabel=True, steps_per_epoch=1)
    t = torch.tensor([[1.0, 0.0, 1.0]])
    p = torch.sigmoid(logits)
    bce = -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean()
    assert tag._loss(logits, t).item() == pytest.approx(bce.item(), rel=1e-6)


def test_unfinished_fold_resumes_from_its_last_checkpoint(tmp_path, make_tones):
    from lightning.pytorch.callbacks import Callback

    man, cache = _tone_data(tmp_path, make_tones)
    cfg = TrainConfig(model="test_cnn", epochs=3, batch_size=4, patience=0, progress=False)
    idx = np.arange(len(man.items))

    class Crash(Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            if trainer.current_epoch == 1:  # dies during the second epoch's bookkeeping
                raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        fit_fold(man, idx[::2], idx[1::2], cfg, cache, 0.5, tmp_path / "fold", extra_callbacks=[Crash()])
    last = tmp_path / "fold" / "lightning" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 0  # only the first epoch was saved
    fit = fit_fold(man, idx[::2], idx[1::2], cfg, cache, 0.5, tmp_path / "fold", resume=True)
    assert [h["epoch"] for h in fit.history] == [1, 2, 3]  # epoch 1 from the checkpoint, 2-3 trained now


def test_weight_average_follows_the_ema_recursion():
    from audiocnn.train import WeightAverage

    lin = torch.nn.Linear(2, 1)
    bn = torch.nn.BatchNorm1d(1)
    model = torch.nn.Sequential(lin, bn)
    avg = WeightAverage(model, decay=0.9)
    expected = lin.weight.detach().clone()
    for n in range(30):
        with torch.no_grad():
            lin.weight.add_(1.0)
            bn.num_batches_tracked += 1
        avg.update(model)
        d = min(0.9, (1 + n) / (10 + n))
        expected = d * expected + (1 - d) * lin.weight.detach()
    torch.testing.assert_close(avg.module[0].weight, expected)
    assert not torch.equal(avg.module[0].weight, lin.weight)  # it lags behind the model
    assert int(avg.module[1].num_batches_tracked) == 30  # integer buffers are copied
    assert not any(p.requires_grad for p in avg.parameters())


def test_ema_run_selects_and_saves_the_averaged_weights(tmp_path, make_tones):
    man, cache = _tone_data(tmp_path, make_tones)
    cfg = TrainConfig(model="test_cnn", epochs=2, batch_size=4, patience=0, progress=False, ema=0.9)
    idx = np.arange(len(man.items))
    fit = fit_fold(man, idx[::2], idx[1::2], cfg, cache, 0.5, tmp_path / "fold")
    state = torch.load(tmp_path / "fold" / "lightning" / "best.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    ema = {k[len("ema_model.module."):]: v for k, v in state.items() if k.startswith("ema_model.module.")}
    raw = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
    assert ema.keys() == raw.keys()
    got = fit.model.state_dict()
    assert all(torch.equal(got[k], ema[k]) for k in ema)
    assert any(not torch.equal(ema[k], raw[k]) for k in ema if ema[k].is_floating_point())
    saved = audiocnn.create_model("test_cnn", checkpoint=tmp_path / "fold" / "best.pth")
    assert all(torch.equal(saved.state_dict()[k], ema[k]) for k in ema)
    with pytest.raises(ValueError, match="ema"):
        TrainConfig(ema=1.0)


def test_training_keeps_conv_weights_channels_last_and_gives_them_back_contiguous(tmp_path, make_tones, monkeypatch):
    from audiocnn.train import AudioClassifier

    man, cache = _tone_data(tmp_path, make_tones)
    cfg = TrainConfig(model="test_cnn", epochs=1, batch_size=4, patience=0, progress=False)
    layouts = []

    class Spy(AudioClassifier):
        def training_step(self, batch, batch_idx):
            w = self.model.conv_block1.conv2.weight  # (8, 8, 3, 3): the two layouts differ
            layouts.append((w.is_contiguous(memory_format=torch.channels_last), w.is_contiguous()))
            return super().training_step(batch, batch_idx)

    monkeypatch.setattr("audiocnn.train.loop.AudioClassifier", Spy)
    idx = np.arange(len(man.items))
    fit = fit_fold(man, idx[::2], idx[1::2], cfg, cache, 0.5, tmp_path / "fold")
    assert layouts and all(cl and not plain for cl, plain in layouts)
    assert all(p.is_contiguous() for p in fit.model.parameters())
    assert all(v.is_contiguous() for v in fit.model.state_dict().values())
    # a model outside the PANNs-style CNNs keeps its layout
    other = AudioClassifier(audiocnn.create_model("test_resnet", num_classes=3), cfg, multilabel=False, steps_per_epoch=1)
    other.on_fit_start()
    assert all(p.is_contiguous() for p in other.model.parameters())
