"""ClipDataset / WindowedDataset: crops, padding, windows and targets."""

import csv

import numpy as np
import pytest
import torch

from audiocnn.data import AudioCache, ClipDataset, WindowedDataset, collate_windows, load_manifest
from audiocnn.testing import write_wav


def ramp_dataset(tmp_path, lengths, multilabel=False):
    """Files whose samples are a ramp (sample i = i / 2**15), so a crop reveals its offset."""
    rows = []
    for i, n in enumerate(lengths):
        x = (np.arange(n) % 30000 / 2**15).astype(np.float32)
        write_wav(tmp_path / f"{i}.wav", x, 1000)
        rows.append([f"{i}.wav", ("a;b" if i % 2 else "b") if multilabel else "ab"[i % 2]])
    with open(tmp_path / "m.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "labels" if multilabel else "label"])
        w.writerows(rows)
    return load_manifest(tmp_path / "m.csv")


def test_train_crops_are_contiguous_random_and_reproducible(tmp_path):
    m = ramp_dataset(tmp_path, [3000, 500])
    cache = AudioCache(1000)
    ds = ClipDataset(m, cache, clip_seconds=1.0, train=True)
    full = cache.get(m.items[0].path)
    starts = set()
    torch.manual_seed(1)
    for _ in range(20):
        x, y = ds[0]
        assert x.shape == (1000,) and x.dtype == torch.float32 and y.dtype == torch.long and int(y) == 0
        start = int(round(float(x[0]) * 2**15))
        np.testing.assert_array_equal(x.numpy(), full[start:start + 1000])
        starts.add(start)
    assert len(starts) > 5  # random offsets
    torch.manual_seed(1)
    again = [int(round(float(ds[0][0][0]) * 2**15)) for _ in range(20)]
    torch.manual_seed(1)
    assert again == [int(round(float(ds[0][0][0]) * 2**15)) for _ in range(20)]
    # Short file: padded with zeros at the end, in train and eval.
    for train in (True, False):
        x, y = ClipDataset(m, cache, 1.0, train=train)[1]
        np.testing.assert_array_equal(x[:500].numpy(), cache.get(m.items[1].path))
        assert torch.all(x[500:] == 0) and int(y) == 1


def test_eval_is_centre_crop(tmp_path):
    m = ramp_dataset(tmp_path, [3001])
    cache = AudioCache(1000)
    x, _ = ClipDataset(m, cache, 1.0, train=False)[0]
    full = cache.get(m.items[0].path)
    np.testing.assert_array_equal(x.numpy(), full[1000:2000])
    x2, _ = ClipDataset(m, cache, 1.0, train=False)[0]
    assert torch.equal(x, x2)


def test_multilabel_targets(tmp_path):
    m = ramp_dataset(tmp_path, [800, 800, 800], multilabel=True)
    ds = ClipDataset(m, AudioCache(1000), 0.5, train=False)
    ys = torch.stack([ds[i][1] for i in range(3)])
    assert ys.dtype == torch.float32
    assert ys.tolist() == [[0, 1], [1, 1], [0, 1]] and ds.num_classes == 2
    assert torch.equal(ds.targets(), ys)


def test_windows_cover_the_file(tmp_path):
    m = ramp_dataset(tmp_path, [2500, 300])
    cache = AudioCache(1000)
    wd = WindowedDataset(m, cache, clip_seconds=1.0, hop_seconds=0.5)
    w, y = wd[0]
    full = cache.get(m.items[0].path)
    assert w.shape == (4, 1000)  # starts 0, 500, 1000, 1500 cover 2,500 samples
    for k in range(4):
        seg = full[500 * k:500 * k + 1000]
        np.testing.assert_array_equal(w[k, :len(seg)].numpy(), seg)
        assert torch.all(w[k, len(seg):] == 0)
    short, _ = wd[1]
    assert short.shape == (1, 1000)
    windows, counts, targets = collate_windows([wd[0], wd[1]])
    assert windows.shape == (5, 1000) and counts.tolist() == [4, 1] and targets.tolist() == [0, 1]
    assert torch.equal(torch.split(windows, counts.tolist())[0], w)


def test_bad_arguments(tmp_path):
    m = ramp_dataset(tmp_path, [100])
    with pytest.raises(ValueError):
        ClipDataset(m, AudioCache(1000), 0, train=True)
    with pytest.raises(ValueError):
        WindowedDataset(m, AudioCache(1000), 1.0, hop_seconds=0)


def test_dataloader_with_workers(tmp_path):
    m = ramp_dataset(tmp_path, [1500] * 4)
    ds = ClipDataset(m, AudioCache(1000), 1.0, train=False)
    dl = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)
    xs, ys = zip(*dl)
    assert torch.cat(xs).shape == (4, 1000) and torch.cat(ys).tolist() == [0, 1, 0, 1]
