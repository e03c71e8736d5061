"""--batch-by-length: batches of similar lengths cut to their shortest file, no padding."""

import numpy as np
import pytest
import torch

from audiocnn.audio import Windowing, windows_of
from audiocnn.train import TrainConfig, fit_fold
from audiocnn.train.determinism import EpochCrops, LengthBatchSampler, crop_to_shortest


def _epoch(sampler, epoch):
    sampler.set_epoch(epoch)
    return [list(b) for b in sampler]


def test_every_item_once_per_epoch_in_batches_of_similar_length():
    rng = np.random.default_rng(0)
    lengths = rng.integers(100, 10_000, 100)
    s = LengthBatchSampler(lengths, batch_size=8, seed=3, drop_last=True, pool=4)
    batches = _epoch(s, 2)
    assert len(batches) == len(s) == 12
    flat = [i for b in batches for i in b]
    assert all(i // 100 == 2 for i in flat)  # indices carry the epoch
    items = [i % 100 for i in flat]
    assert len(items) == len(set(items)) == 96  # each drawn item once, the incomplete batch dropped
    # within a batch the lengths are close: far closer than in a random batch of the same items
    spread = np.mean([np.ptp(lengths[[i % 100 for i in b]]) for b in batches])
    random_spread = np.mean([np.ptp(lengths[rng.choice(100, 8, replace=False)]) for _ in range(200)])
    assert spread < 0.5 * random_spread


def test_batches_depend_on_seed_and_epoch_only():
    lengths = np.arange(50) * 37 % 1000 + 1
    a = LengthBatchSampler(lengths, batch_size=4, seed=1)
    b = LengthBatchSampler(lengths, batch_size=4, seed=1)
    assert _epoch(a, 5) == _epoch(b, 5)  # a resumed fit starting at epoch 5 sees the same batches
    assert [[i % 50 for i in x] for x in _epoch(a, 5)] != [[i % 50 for i in x] for x in _epoch(a, 6)]
    assert _epoch(a, 5) != _epoch(LengthBatchSampler(lengths, batch_size=4, seed=2), 5)
    keep = LengthBatchSampler(lengths, batch_size=4, seed=1, drop_last=False)
    assert sum(len(x) for x in _epoch(keep, 0)) == 50 and len(keep) == 13


def test_crop_to_shortest_cuts_at_the_offset_and_pads_to_the_model_minimum():
    long = torch.arange(10, dtype=torch.float32)
    short = torch.arange(4, dtype=torch.float32) + 100
    x, y = crop_to_shortest([(long, torch.tensor(0), 0.0), (short, torch.tensor(1), 0.9)])
    assert x.shape == (2, 4) and y.tolist() == [0, 1]
    assert x[0].tolist() == [0, 1, 2, 3] and x[1].tolist() == short.tolist()
    x, _ = crop_to_shortest([(long, torch.tensor(0), 0.999), (short, torch.tensor(1), 0.5)])
    assert x[0].tolist() == [6, 7, 8, 9]  # the last position the room allows
    x, _ = crop_to_shortest([(long, torch.tensor(0), 0.5), (short, torch.tensor(1), 0.5)], min_samples=6)
    assert x.shape == (2, 6) and x[1].tolist() == [100, 101, 102, 103, 0, 0] and x[0].tolist() == [2, 3, 4, 5, 6, 7]


def test_unpadded_crops_keep_short_files_whole_and_cut_long_ones_to_a_clip(make_clips):
    clips = make_clips([np.arange(20, dtype=np.float32), np.arange(5, dtype=np.float32)], 8)
    ds = EpochCrops(clips, seed=0, pad=False)
    w, t, u = ds[0]
    assert w.shape == (8,) and 0.0 <= u < 1.0 and int(t) == 0
    assert np.array_equal(w.numpy(), np.arange(int(w[0]), int(w[0]) + 8))
    w, _, _ = ds[1]
    assert w.tolist() == list(range(5))
    padded, _ = EpochCrops(clips, seed=0, pad=True)[1]
    assert padded.tolist() == [0, 1, 2, 3, 4, 0, 0, 0]
    assert ds[2 + 0][0].tolist() != ds[0][0].tolist() or ds[4][0].tolist() != ds[0][0].tolist()  # crops move with the epoch


def test_unpadded_windows_are_padded_to_the_minimum_length_only():
    x = np.ones(30, dtype=np.float32)
    assert [w.shape[0] for _, w in windows_of(x, 100, 50, pad_short=False, min_length=40)] == [40]
    assert [w.shape[0] for _, w in windows_of(x, 100, 50, pad_short=False, min_length=10)] == [30]
    assert [w.shape[0] for _, w in windows_of(x, 100, 50, pad_short=True, min_length=10)] == [100]
    unpadded = Windowing(0.1, 0.05, pad_short=False)  # 100-sample windows at 1 kHz
    assert [w.shape[0] for _, w in unpadded.split(x, 1000, 12)] == [30]
    assert [w.shape[0] for _, w in unpadded.split(x, 1000, 40)] == [40]  # the model's minimum input


def _tones(tmp_path, make_tones):
    from audiocnn.data import AudioCache, load_manifest

    return load_manifest(make_tones(tmp_path / "data")), AudioCache(32000)  # test_cnn's rate


def test_a_model_trained_by_length_scores_short_files_unpadded_everywhere(tmp_path, make_tones):
    from audiocnn.evaluate.predict import predict_manifest
    from audiocnn import Tagger
    from audiocnn.models import load_model

    man, cache = _tones(tmp_path, make_tones)
    cfg = TrainConfig(model="test_cnn", epochs=2, batch_size=4, patience=0, progress=False, batch_by_length=True)
    idx = np.arange(len(man.items))
    fit = fit_fold(man, idx[::2], idx[1::2], cfg, cache, 0.5, tmp_path / "fold")
    assert len(fit.history) == 2 and np.isfinite(fit.history[-1]["train_loss"]) and np.isfinite(fit.history[-1]["val_loss"])
    model, bundle = load_model(tmp_path / "fold" / "best.pth")
    assert bundle.windowing.pad_short is False
    lengths = [len(cache.get(it.path)) for it in man.items]
    short = [i for i, n in enumerate(lengths) if n < 0.5 * 32000]
    assert short  # the tones are 0.4-0.6 s: some are shorter than the 0.5-s clip
    sub = man.subset(np.array(short[:3]))
    p = predict_manifest(model, sub, cache, bundle.windowing)
    tagger = Tagger.from_checkpoint(tmp_path / "fold" / "best.pth")
    q = tagger.predict_proba([cache.get(it.path) for it in sub.items], sample_rate=32000)
    np.testing.assert_allclose(p, q, atol=1e-5)
    padded = predict_manifest(model, sub, cache, Windowing(0.5, 0.25, pad_short=True))
    assert not np.allclose(p, padded, atol=1e-5)  # the padding would change the scores: it is really left out


def test_resumed_fit_by_length_ends_with_the_uninterrupted_weights(tmp_path, make_tones):
    from lightning.pytorch.callbacks import Callback

    man, cache = _tones(tmp_path, make_tones)
    cfg = TrainConfig(model="test_cnn", epochs=3, batch_size=4, patience=0, progress=False, batch_by_length=True, val_fraction=0)
    idx = np.arange(len(man.items))
    whole = fit_fold(man, idx[::2], idx[:0], cfg, cache, 0.5, tmp_path / "whole")

    class Crash(Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            if trainer.current_epoch == 1:
                raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        fit_fold(man, idx[::2], idx[:0], cfg, cache, 0.5, tmp_path / "cut", extra_callbacks=[Crash()])
    resumed = fit_fold(man, idx[::2], idx[:0], cfg, cache, 0.5, tmp_path / "cut", resume=True)
    for k, v in whole.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


def test_streamed_training_refuses_batches_by_length(tmp_path):
    from audiocnn.train.stream import fit_stream

    with pytest.raises(ValueError, match="batch-by-length"):
        fit_stream(tmp_path, TrainConfig(batch_by_length=True), tmp_path / "out")


def test_several_processes_refuse_batches_by_length(tmp_path, make_tones):
    man, cache = _tones(tmp_path, make_tones)
    cfg = TrainConfig(model="test_cnn", epochs=1, batch_size=4, progress=False, batch_by_length=True, devices=2, strategy="ddp")
    idx = np.arange(len(man.items))
    with pytest.raises(ValueError, match="batch-by-length batches on one process"):
        fit_fold(man, idx[::2], idx[:0], cfg, cache, 0.5, tmp_path / "fold")
