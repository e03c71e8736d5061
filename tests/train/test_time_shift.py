"""--time-shift: training files shorter than a clip placed at a random offset inside it."""

import numpy as np
import pytest
import torch

from audiocnn.audio import crop_or_pad
from audiocnn.train import TrainConfig, fit_fold
from audiocnn.train.determinism import EpochCrops


def _offset(clip: np.ndarray, sound: np.ndarray) -> int:
    """Where ``sound`` sits in ``clip``, checking that every other sample is zero."""
    start = int(np.flatnonzero(clip)[0])
    assert np.array_equal(clip[start : start + len(sound)], sound)
    assert not clip[:start].any() and not clip[start + len(sound) :].any()
    return start


def test_random_padding_places_the_whole_sound_with_zeros_around_it():
    x = np.arange(1, 5, dtype=np.float32)
    starts = {_offset(crop_or_pad(x, 10, "random", rng=np.random.default_rng(s), pad_at="random"), x) for s in range(60)}
    assert starts == set(range(7))  # every offset that keeps the sound whole, and only those
    assert crop_or_pad(x, 10, "random", rng=np.random.default_rng(0)).tolist() == [1, 2, 3, 4] + [0] * 6  # default: at the end
    long = np.arange(20, dtype=np.float32)
    a = crop_or_pad(long, 10, "random", rng=np.random.default_rng(3), pad_at="random")
    b = crop_or_pad(long, 10, "random", rng=np.random.default_rng(3))
    assert np.array_equal(a, b)  # a longer file is cropped the same way
    with pytest.raises(ValueError, match="pad_at"):
        crop_or_pad(x, 10, pad_at="middle")


def test_shifted_crops_move_with_the_epoch_and_repeat_for_the_same_seed(make_clips):
    sound = np.arange(1, 4, dtype=np.float32)
    clips = make_clips([sound, np.arange(1, 31, dtype=np.float32)], 10)
    ds = EpochCrops(clips, seed=5, time_shift=True)
    offsets = [_offset(ds[2 * epoch][0].numpy(), sound) for epoch in range(30)]
    assert len(set(offsets)) > 3  # item 0 of epochs 0..29: the sound moves
    again = EpochCrops(clips, seed=5, time_shift=True)
    assert [_offset(again[2 * epoch][0].numpy(), sound) for epoch in range(30)] == offsets  # a resumed fit repeats them
    plain = EpochCrops(clips, seed=5)
    assert all(plain[2 * e][0].tolist()[:3] == [1, 2, 3] for e in range(5))  # without the flag: at the start
    for e in range(5):  # the long file's crops are those of the plain run
        assert torch.equal(ds[2 * e + 1][0], plain[2 * e + 1][0])
    with pytest.raises(ValueError, match="pad=True"):
        EpochCrops(clips, seed=0, pad=False, time_shift=True)


def test_time_shift_is_refused_where_nothing_is_padded(tmp_path):
    from audiocnn.train.stream import fit_stream

    with pytest.raises(ValueError, match="--time-shift"):
        TrainConfig(time_shift=True, batch_by_length=True)
    with pytest.raises(ValueError, match="--time-shift"):
        fit_stream(tmp_path, TrainConfig(time_shift=True), tmp_path / "out")


def test_the_flag_reaches_the_training_loader(tmp_path, make_tones, monkeypatch):
    from audiocnn.cli import build_parser
    from audiocnn.cli.train import config_from_args
    from audiocnn.data import AudioCache, load_manifest
    from audiocnn.train import loop

    p = build_parser()
    assert config_from_args(p.parse_args(["train", "--data", "d", "--time-shift"])).time_shift is True
    assert config_from_args(p.parse_args(["train", "--data", "d"])).time_shift is False
    seen = []
    real = loop.EpochCrops

    def spy(*a, **kw):
        seen.append(kw.get("time_shift"))
        return real(*a, **kw)

    monkeypatch.setattr(loop, "EpochCrops", spy)
    man, cache = load_manifest(make_tones(tmp_path / "data")), AudioCache(32000)
    idx = np.arange(len(man.items))
    cfg = TrainConfig(model="test_cnn", epochs=1, batch_size=4, progress=False, time_shift=True)
    fit = fit_fold(man, idx[::2], idx[:0], cfg, cache, 0.5, tmp_path / "fold")
    assert seen == [True] and np.isfinite(fit.history[-1]["train_loss"])
