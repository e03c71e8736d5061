"""AudioCache: decode once, reuse from memory and disk, invalidate on change, report bad files."""

import os

import numpy as np
import pytest
import soxr
from datafakes import nan_wav, not_audio, wav

import audiocnn.data.cache as cache_mod
from audiocnn.audio import AudioLoadError
from audiocnn.data import AudioCache
from audiocnn.testing import tone, write_wav


@pytest.fixture
def decode_counter(monkeypatch):
    """Count calls of the decoder AudioCache uses (the real decoder still runs)."""
    calls = []
    real = cache_mod.load_audio

    def counting(path, *args, **kwargs):
        calls.append(os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(cache_mod, "load_audio", counting)
    return calls


def test_decodes_once_and_resamples_like_soxr(tmp_path, decode_counter):
    p = write_wav(tmp_path / "a.wav", tone(440, 0.5, 8000), 8000)
    c = AudioCache(16000)
    x = c.get(p)
    y = c.get(str(p))  # same file through another spelling of the path
    assert len(decode_counter) == 1 and c.decodes == 1
    assert y is x and x.dtype == np.float32 and x.ndim == 1
    import soundfile as sf

    raw, sr = sf.read(str(p), dtype="float32")
    np.testing.assert_allclose(x, soxr.resample(raw, sr, 16000, quality="HQ"), atol=1e-6)
    assert len(x) == 8000
    assert not x.flags.writeable  # shared array: callers cannot corrupt the cache


def test_disk_cache_reused_by_new_instance_and_invalidated_on_change(tmp_path, decode_counter):
    p = write_wav(tmp_path / "a.wav", tone(440, 0.3, 8000), 8000)
    store = tmp_path / "cache"
    first = AudioCache(16000, cache_dir=store).get(p).copy()
    assert len(decode_counter) == 1 and len(list(store.glob("*.npy"))) == 1

    again = AudioCache(16000, cache_dir=store)
    np.testing.assert_array_equal(again.get(p), first)
    assert len(decode_counter) == 1 and again.decodes == 0 and again.disk_hits == 1

    # Another sample rate is another entry.
    AudioCache(8000, cache_dir=store).get(p)
    assert len(decode_counter) == 2 and len(list(store.glob("*.npy"))) == 2

    # Rewrite the file (different content and size, new mtime): decoded again, stale copy replaced.
    write_wav(p, tone(1000, 0.4, 8000), 8000)
    st = os.stat(p)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changed = AudioCache(16000, cache_dir=store).get(p)
    assert len(decode_counter) == 3 and len(changed) == 6400
    assert len(list(store.glob("*.npy"))) == 2
    # ...and an in-memory instance notices the change too.
    write_wav(p, tone(300, 0.2, 8000), 8000)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))
    assert len(again.get(p)) == 3200 and len(decode_counter) == 4


def test_corrupt_disk_entry_is_decoded_again(tmp_path, decode_counter):
    p = wav(tmp_path / "a.wav")
    store = tmp_path / "cache"
    AudioCache(8000, cache_dir=store).get(p)
    (f,) = store.glob("*.npy")
    f.write_bytes(b"garbage")
    x = AudioCache(8000, cache_dir=store).get(p)
    assert len(decode_counter) == 2 and len(x) == 800


def test_errors(tmp_path):
    c = AudioCache(8000)
    with pytest.raises(AudioLoadError, match="file not found"):
        c.get(tmp_path / "missing.wav")
    with pytest.raises(AudioLoadError, match="NaN"):
        c.get(nan_wav(tmp_path / "nan.wav"))
    with pytest.raises(ValueError):
        AudioCache(0)


@pytest.mark.parametrize("workers,executor", [(0, "thread"), (2, "thread"), (2, "process")])
def test_preload_reports_bad_files_and_fills_cache(tmp_path, decode_counter, workers, executor):
    good = [write_wav(tmp_path / f"g{i}.wav", tone(200 + 50 * i, 0.2, 8000), 8000) for i in range(5)]
    bad = [not_audio(tmp_path / "text.wav"), nan_wav(tmp_path / "nan.wav"), tmp_path / "missing.wav"]
    c = AudioCache(16000)
    result = c.preload(good + bad + good[:2], num_workers=workers, progress=False, executor=executor)
    reasons = {os.path.basename(b.path): b.reason for b in result}
    assert set(reasons) == {"text.wav", "nan.wav", "missing.wav"}
    assert reasons["missing.wav"] == "file not found" and "NaN" in reasons["nan.wav"]
    assert all(p in c for p in good) and c.decodes == 5
    n_before = len(decode_counter)
    for p in good:  # served from memory, equal to a fresh decode
        np.testing.assert_allclose(c.get(p), AudioCache(16000).get(p))
    assert len(decode_counter) == n_before + 5  # only the 5 fresh instances decoded
    assert c.preload(good, progress=False) == [] and c.decodes == 5


def test_memory_bound_evicts_least_recently_used(tmp_path, decode_counter):
    paths = [write_wav(tmp_path / f"{i}.wav", tone(300, 1.0, 8000), 8000) for i in range(3)]
    c = AudioCache(8000, max_memory_mb=2 * 8000 * 4 / 2**20)  # room for two 1-s clips
    for p in paths:
        c.get(p)
    assert len(c) == 2 and paths[0] not in c and c.nbytes == 2 * 8000 * 4
    c.get(paths[0])
    assert len(decode_counter) == 4
