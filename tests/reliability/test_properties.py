"""Property-based tests (Hypothesis): audio loading and windowing for any length, rate and dtype."""

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiocnn.audio import (
    apply_windowed,
    check_waveform,
    iter_audio_chunks,
    iter_file_windows,
    load_audio,
    resample,
    windows_of,
)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

SUBTYPES = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]


@FAST
@given(
    n=st.integers(1, 4000),
    rate=st.sampled_from([1, 100, 8000, 11025, 22050, 44100, 48000, 96000, 192000, 768000]),
    target=st.sampled_from([None, 8000, 16000, 32000]),
    subtype=st.sampled_from(SUBTYPES),
    channels=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_any_file_loads_to_at_least_one_finite_sample_in_range(tmp_path, n, rate, target, subtype, channels, seed):
    if target is not None and n * target / rate > 200_000:  # keep each example small (a 1-Hz file
        n = max(1, int(200_000 * rate / target))           # resampled to 32 kHz grows 32000-fold)
    x = np.random.default_rng(seed).uniform(-1, 1, (n, channels)).astype(np.float32)
    path = tmp_path / f"x_{n}_{rate}_{subtype}_{channels}.wav"
    sf.write(str(path), x, rate, subtype=subtype)
    y, sr = load_audio(path, target)
    assert sr == (target or rate)
    assert y.dtype == np.float32 and y.ndim == 1 and np.isfinite(y).all() and np.abs(y).max() <= 1.0
    expected = n if target is None else n * target / rate
    assert y.shape[0] >= 1 and abs(y.shape[0] - max(1.0, expected)) <= 1.0
    # the chunked reader (tag, sed, embed) gives the same number of samples
    chunks = list(iter_audio_chunks(path, 0.05 if target is None else 0.25, target))
    assert sum(c.shape[0] for _, c in chunks) == y.shape[0]


@FAST
@given(n=st.integers(0, 2000), orig=st.integers(1, 200_000), target=st.integers(1, 200_000))
def test_resampling_keeps_a_non_empty_input_non_empty(n, orig, target):
    n = min(n, max(1, 100_000 * orig // target))  # bounded output size
    y = resample(np.ones(n, np.float32) * 0.5, orig, target)
    assert (y.shape[0] >= 1) == (n >= 1)


@FAST
@given(
    dtype=st.sampled_from([np.int8, np.int16, np.int32, np.uint8, np.float32, np.float64]),
    n=st.integers(1, 500),
    seed=st.integers(0, 2**16),
)
def test_arrays_of_any_dtype_become_float32_in_range(dtype, n, seed):
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        x = rng.integers(info.min, int(info.max) + 1, n, dtype=np.int64).astype(dtype)
    else:
        x = rng.uniform(-1, 1, n).astype(dtype)
    y = check_waveform(x, "w")
    assert y.dtype == np.float32 and y.shape == (n,) and np.abs(y).max() <= 1.0
    if dtype is np.int16:
        np.testing.assert_allclose(y, x.astype(np.float64) / 32768, rtol=0, atol=1e-7)


@pytest.mark.parametrize("bad", [np.array([0.1, np.nan]), np.array([np.inf]), np.zeros(0), np.zeros((2, 3)), np.array(["a"]), np.array([True])])
def test_bad_arrays_are_refused_with_the_input_named(bad):
    with pytest.raises(ValueError, match="^w: "):
        check_waveform(bad, "w")


@FAST
@given(
    n=st.integers(1, 3000),
    window=st.integers(1, 700),
    hop_frac=st.floats(0.01, 1.0),
    last=st.sampled_from(["end", "pad", "short"]),
    pad_short=st.booleans(),
)
def test_windows_cover_every_sample_with_valid_starts(n, window, hop_frac, last, pad_short):
    hop = max(1, min(window, int(round(hop_frac * window))))
    x = np.arange(n, dtype=np.float32) + 1.0
    ws = list(windows_of(x, window, hop, pad_short=pad_short, last=last))
    starts = [s for s, _ in ws]
    assert starts[0] == 0 and starts == sorted(set(starts)) and all(0 <= s < n for s in starts)
    covered = np.zeros(n, bool)
    for s, w in ws:
        real = w[w > 0]  # the samples are 1..n, padding is 0
        np.testing.assert_array_equal(real, x[s : s + real.shape[0]])
        covered[s : s + real.shape[0]] = True
        if n <= window:
            assert w.shape[0] == (window if pad_short else n)
        elif last == "short":
            assert w.shape[0] == min(window, n - s)
        else:
            assert w.shape[0] == window
    assert covered.all()
    if n > window and last == "end":
        assert starts[-1] + window == n  # the last window ends with the input: nothing padded
    if last in ("pad", "short"):
        assert all(s % hop == 0 for s in starts)


@FAST
@given(n=st.integers(1, 5000), window=st.integers(1, 1200), hop_frac=st.floats(0.05, 1.0), pad_short=st.booleans())
def test_file_windows_equal_the_windows_of_the_loaded_array(tmp_path, n, window, hop_frac, pad_short):
    hop = max(1, min(window, int(round(hop_frac * window))))
    sr = 8000
    x = np.random.default_rng(n).uniform(-0.9, 0.9, n).astype(np.float32)
    path = tmp_path / f"w{n}.wav"
    sf.write(str(path), x, sr, subtype="FLOAT")
    from_file = [(round(s * sr), w) for s, w in iter_file_windows(path, sr, window, hop, pad_short=pad_short)]
    from_array = list(windows_of(load_audio(path)[0], window, hop, pad_short=pad_short))
    assert [s for s, _ in from_file] == [s for s, _ in from_array]
    for (_, a), (_, b) in zip(from_file, from_array):
        np.testing.assert_array_equal(a, b)


@FAST
@given(lengths=st.lists(st.integers(1, 900), min_size=1, max_size=6), window=st.integers(1, 400), batch=st.integers(1, 5))
def test_apply_windowed_gives_one_output_per_input_whatever_the_batching(lengths, window, batch):
    waves = [np.full(n, i + 1, np.float32) for i, n in enumerate(lengths)]
    seen = []

    def fn(b):
        seen.append(b.shape)
        return b.max(axis=1, keepdims=True)  # each input is constant: its windows give its value

    out = apply_windowed(fn, waves, window, max(1, window // 2), pad_short=True, how="mean", batch_size=batch)
    assert out.shape == (len(waves), 1)
    np.testing.assert_allclose(out[:, 0], np.arange(1, len(waves) + 1))
    assert all(s[0] <= batch and s[1] == window for s in seen)
