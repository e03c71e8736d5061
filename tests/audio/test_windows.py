import numpy as np
import pytest

from audiocnn.audio import (
    Windowing,
    aggregate,
    apply_windowed,
    centred_windows,
    iter_file_windows,
    load_audio,
    window_starts,
    windows_of,
)
from audiocnn.testing import write_wav


@pytest.mark.parametrize("n,window,hop,expected", [
    (5, 10, 5, [0]),
    (10, 10, 5, [0]),
    (11, 10, 5, [0, 1]),
    (25, 10, 5, [0, 5, 10, 15]),
    (27, 10, 5, [0, 5, 10, 15, 17]),
    (30, 10, 10, [0, 10, 20]),
])
def test_window_starts_end_aligned(n, window, hop, expected):
    assert window_starts(n, window, hop) == expected


def test_grid_modes_keep_the_hop():
    assert window_starts(27, 10, 5, last="pad") == [0, 5, 10, 15, 20]
    x = np.arange(27, dtype=np.float32)
    padded = [w for _, w in windows_of(x, 10, 5, last="pad")]
    short = [w for _, w in windows_of(x, 10, 5, last="short")]
    assert len(padded[-1]) == 10 and padded[-1][-3:].tolist() == [0, 0, 0]
    assert short[-1].tolist() == list(range(20, 27))


def test_short_inputs_padded_or_whole():
    x = np.ones(4, np.float32)
    assert [len(w) for _, w in windows_of(x, 10, pad_short=True)] == [10]
    assert [len(w) for _, w in windows_of(x, 10, pad_short=False)] == [4]


def test_aggregate_mean_and_max():
    out = np.array([[1.0], [3.0], [5.0]])
    np.testing.assert_allclose(aggregate(out, [0, 0, 1], 2, "mean"), [[2.0], [5.0]])
    np.testing.assert_allclose(aggregate(out, [0, 0, 1], 2, "max"), [[3.0], [5.0]])
    with pytest.raises(ValueError, match="input 1 has no window"):
        aggregate(out, [0, 0, 0], 2)


def test_apply_windowed_batches_by_length_and_keeps_order():
    seen = []

    def fn(b):
        seen.append(b.shape)
        return b.sum(1, keepdims=True)

    xs = [np.ones(3, np.float32), np.ones(25, np.float32), np.ones(7, np.float32)]
    got = apply_windowed(fn, xs, 10, 5, pad_short=False, batch_size=2)
    np.testing.assert_allclose(got[:, 0], [3.0, 10.0, 7.0])
    assert all(len({s[1]}) == 1 for s in seen) and max(s[0] for s in seen) <= 2


def test_centred_windows_are_centred():
    x = np.arange(1, 11, dtype=np.float32)
    w = centred_windows(x, 4, 3)
    assert w.shape == (1 + 10 // 3, 4)
    assert w[0].tolist() == [0, 0, 1, 2] and w[1].tolist() == [2, 3, 4, 5]


@pytest.mark.parametrize("seconds", [0.3, 1.0, 2.37, 3.0])
@pytest.mark.parametrize("pad_short", [False, True])
def test_file_windows_equal_in_memory_windows(tmp_path, seconds, pad_short):
    sr = 8000
    x = (0.1 * np.random.default_rng(1).standard_normal(int(seconds * sr))).astype(np.float32)
    path = write_wav(tmp_path / "x.wav", x, sr, subtype="FLOAT")
    wave, _ = load_audio(path)
    spec = Windowing(1.0, 0.4, pad_short=pad_short)
    window, hop = spec.sizes(sr)
    mem = list(windows_of(wave, window, hop, pad_short=pad_short))
    got = list(iter_file_windows(path, sr, window, hop, pad_short=pad_short))
    assert [round(s * sr) for s, _ in got] == [s for s, _ in mem]
    for (_, a), (_, b) in zip(got, mem):
        np.testing.assert_array_equal(a, b)


def test_windowing_validates_its_settings():
    with pytest.raises(ValueError, match="clip_seconds"):
        Windowing(0)
    with pytest.raises(ValueError, match="hop_seconds"):
        Windowing(1.0, 2.0)
    with pytest.raises(ValueError, match="aggregate"):
        Windowing(1.0, aggregate="median")
    assert Windowing(0.001).sizes(8000, min_samples=100) == (100, 100)
