"""pack: tar and HDF5 shards at the model's rate, labels and metadata with the audio, checksums,
resume after an interruption, bad files, and reading the files back."""

import csv
import json

import numpy as np
import pytest
from datafakes import not_audio

from audiocnn.audio import load_audio
from audiocnn.data import BadDataError, load_manifest
from audiocnn.data.shards import (
    PackedClipDataset,
    PackOptions,
    SyntheticSource,
    describe_hdf5_folder,
    iter_tar_samples,
    load_index,
    pack,
    verify_shards,
)
from audiocnn.data.shards.tar import decode_audio
from audiocnn.testing import tone, write_wav


def _corpus(root, n=12, bad=()):
    """Tones at 22.05 kHz (so packing resamples), three classes, a CSV with a group column."""
    rows = []
    for i in range(n):
        label = ("low", "mid", "high")[i % 3]
        f = root / f"{label}_{i}.wav"
        write_wav(f, tone(200.0 * (1 + i % 3), 0.3 + 0.01 * i, 22050), 22050)
        rows.append({"filename": f.name, "label": label, "speaker": f"s{i % 4}"})
    for name in bad:
        not_audio(root / name)
        rows.append({"filename": name, "label": "low", "speaker": "s0"})
    with open(root / "meta.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["filename", "label", "speaker"])
        w.writeheader()
        w.writerows(rows)
    return load_manifest(root / "meta.csv")


def test_tar_pack_keeps_audio_labels_and_metadata(tmp_path):
    m = _corpus(tmp_path / "data")
    idx = pack(m, tmp_path / "shards", PackOptions(sample_rate=16000, shard_size=5), progress=False)
    assert [s.samples for s in idx.shards] == [5, 5, 2]
    assert idx.num_samples == 12 and idx.classes == m.classes and idx.sample_rate == 16000
    assert verify_shards(load_index(tmp_path / "shards")) == []
    by_path = {str(it.path): it for it in m.items}
    seen = set()
    for shard in idx.shards:
        for key, audio, meta in iter_tar_samples(idx.path(shard)):
            x, sr = decode_audio(audio)
            it = by_path[meta["path"]]
            ref, _ = load_audio(it.path, sample_rate=16000)
            assert sr == 16000 and x.shape == ref.shape and meta["num_samples"] == ref.shape[0]
            assert np.max(np.abs(x - ref)) < 1.5 / 32767  # 16-bit FLAC of the resampled waveform
            assert meta["labels"] == list(it.labels) and meta["group"] == it.group
            assert [idx.classes[t] for t in meta["target"]] == list(it.labels)
            seen.add(key)
    assert len(seen) == 12
    counts = idx.class_counts()
    assert counts.tolist() == [sum(1 for it in m.items if it.labels[0] == c) for c in idx.classes]


def test_webdataset_reads_the_shards(tmp_path):
    wds = pytest.importorskip("webdataset")
    idx = pack(SyntheticSource(7, seconds=0.2, num_classes=3), tmp_path / "s", PackOptions(sample_rate=8000, codec="int16"), progress=False)
    samples = list(wds.WebDataset(str(idx.path(idx.shards[0])), shardshuffle=False))
    assert len(samples) == 7
    assert {"__key__", "wav", "json"} <= set(samples[0])
    assert json.loads(samples[0]["json"])["key"] == samples[0]["__key__"]


def test_checksum_catches_a_changed_shard(tmp_path):
    idx = pack(SyntheticSource(10, seconds=0.2, num_classes=3), tmp_path / "s", PackOptions(sample_rate=8000, shard_size=4), progress=False)
    p = idx.path(idx.shards[1])
    data = bytearray(p.read_bytes())
    data[1000] ^= 0xFF
    p.write_bytes(bytes(data))
    problems = verify_shards(load_index(tmp_path / "s"))
    assert [name for name, _ in problems] == [idx.shards[1].name]
    assert "sha256" in problems[0][1]


class _Interrupting(SyntheticSource):
    """Raises KeyboardInterrupt when clip ``stop_at`` is loaded; counts loads."""

    def __init__(self, *a, stop_at=None, **k):
        super().__init__(*a, **k)
        self.stop_at, self.loads = stop_at, []

    def load(self, i, sample_rate):
        if i == self.stop_at:
            raise KeyboardInterrupt
        self.loads.append(i)
        return super().load(i, sample_rate)


def test_interrupted_pack_resumes_without_redoing_shards(tmp_path):
    opt = PackOptions(sample_rate=8000, shard_size=5, shuffle=False)
    first = _Interrupting(20, seconds=0.2, num_classes=3, stop_at=12)
    with pytest.raises(KeyboardInterrupt):
        pack(first, tmp_path / "s", opt, progress=False)
    assert not (tmp_path / "s" / "index.json").exists()
    assert sorted(p.name for p in (tmp_path / "s").glob("*.tar")) == ["shard-000000.tar", "shard-000001.tar"]
    again = _Interrupting(20, seconds=0.2, num_classes=3)
    idx = pack(again, tmp_path / "s", opt, progress=False)
    assert sorted(again.loads) == list(range(10, 20))  # shards 0 and 1 were not packed again
    assert idx.num_samples == 20 and verify_shards(idx) == []
    with pytest.raises(ValueError, match="other data or options"):
        pack(SyntheticSource(20, seconds=0.2, num_classes=3), tmp_path / "s", PackOptions(sample_rate=16000), progress=False)


def test_parallel_pack_writes_the_same_shards(tmp_path):
    src = SyntheticSource(24, seconds=0.2, num_classes=4)
    a = pack(src, tmp_path / "a", PackOptions(sample_rate=8000, shard_size=6), progress=False)
    b = pack(src, tmp_path / "b", PackOptions(sample_rate=8000, shard_size=6), num_workers=2, progress=False)
    assert [s.sha256 for s in a.shards] == [s.sha256 for s in b.shards]


def test_bad_files_stop_the_pack_or_are_listed(tmp_path):
    m = _corpus(tmp_path / "data", n=6, bad=("broken.wav",))
    with pytest.raises(BadDataError, match="broken.wav"):
        pack(m, tmp_path / "s", PackOptions(sample_rate=16000, shard_size=4), progress=False)
    idx = pack(m, tmp_path / "s", PackOptions(sample_rate=16000, shard_size=4), skip_bad=True, progress=False)
    assert idx.num_samples == 6
    assert [b["path"].endswith("broken.wav") for b in idx.bad] == [True]
    assert "not a readable audio file" in idx.bad[0]["reason"]
    assert load_index(tmp_path / "s").bad == idx.bad


def test_hdf5_pack_has_the_panns_layout_and_reads_back(tmp_path):
    h5py = pytest.importorskip("h5py")
    m = _corpus(tmp_path / "data", n=9)
    idx = pack(m, tmp_path / "h5", PackOptions(format="hdf5", sample_rate=16000, shard_size=4, clip_seconds=0.25), progress=False)
    with h5py.File(idx.path(idx.shards[0]), "r") as f:
        assert f["waveform"].dtype == np.int16 and f["waveform"].shape == (4, 4000)
        assert f["target"].dtype == bool and f["target"].shape == (4, 3)
        assert int(f.attrs["sample_rate"]) == 16000 and f["audio_name"].shape == (4,)
        meta = json.loads(f["meta"][0])
    assert meta["labels"][0] in m.classes
    ds = PackedClipDataset(idx, train=False)
    assert len(ds) == 9
    by_path = {str(it.path): it for it in m.items}
    for i in range(len(ds)):
        x, y = ds[i]
        s, r = ds.locate(i)
        with h5py.File(idx.path(ds.shards[s]), "r") as f:
            path = json.loads(f["meta"][r])["path"]
        ref, _ = load_audio(path, sample_rate=16000)
        assert np.max(np.abs(x.numpy() - ref[:4000])) < 1.0 / 32767 + 1e-6  # the start, as PANNs keeps it
        assert idx.classes[int(y)] == by_path[path].labels[0]
    # a folder of PANNs files without index.json is described from the files themselves
    (tmp_path / "h5" / "index.json").unlink()
    d = describe_hdf5_folder(tmp_path / "h5")
    assert d.num_samples == 9 and d.classes == m.classes and d.sample_rate == 16000
    assert d.class_counts().tolist() == idx.class_counts().tolist()
