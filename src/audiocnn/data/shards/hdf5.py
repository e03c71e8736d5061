"""PANNs-style HDF5 shards: fixed-length int16 waveforms and boolean targets, random access.

Each file holds the datasets of the PANNs packing script (Kong et al. 2020,
``pack_waveforms_to_hdf5.py``), so files packed by either tool read in both:

- ``audio_name`` ``(n,)`` bytes: the file name of each clip;
- ``waveform`` ``(n, clip_samples)`` int16: mono audio at ``attrs["sample_rate"]``, cut or
  zero-padded to ``clip_samples`` (the start of longer files is kept, as PANNs does);
- ``target`` ``(n, classes)`` bool: multi-hot labels.

audiocnn adds ``meta`` ``(n,)`` (a JSON string per clip: path, labels, fold, group...),
``num_samples`` ``(n,)`` int32 (samples before padding) and the attribute ``classes`` (JSON list);
PANNs readers ignore them. h5py is needed (``pip install audiocnn[pack]``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

__all__ = ["HDF5ShardWriter", "PackedClipDataset", "describe_hdf5_folder", "float_to_int16"]


def _h5py():
    try:
        import h5py
    except ImportError as e:  # pragma: no cover - h5py is in the [pack] extra
        raise ImportError("HDF5 shards need h5py: pip install 'audiocnn[pack]'") from e
    return h5py


def float_to_int16(x: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> int16 (clipped, rounded: ``round(x * 32767)``)."""
    return np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)


class HDF5ShardWriter:
    """Write up to ``capacity`` clips of ``clip_samples`` to an (already temporary) ``.h5`` path;
    rows are written as they come, so memory holds one clip. Use as a context manager."""

    def __init__(self, path: str | os.PathLike, capacity: int, clip_samples: int, classes: tuple[str, ...], sample_rate: int):
        self.path, self.capacity, self.clip_samples = Path(path), int(capacity), int(clip_samples)
        self.classes, self.sample_rate, self.n = tuple(classes), int(sample_rate), 0

    def __enter__(self):
        h5py = _h5py()
        self._f = h5py.File(self.path, "w")
        n, c = max(self.capacity, 1), len(self.classes)
        self._name = self._f.create_dataset("audio_name", shape=(n,), maxshape=(None,), dtype="S64")
        self._wave = self._f.create_dataset("waveform", shape=(n, self.clip_samples), maxshape=(None, self.clip_samples),
                                            dtype=np.int16, chunks=(1, self.clip_samples))
        self._target = self._f.create_dataset("target", shape=(n, c), maxshape=(None, c), dtype=bool)
        self._meta = self._f.create_dataset("meta", shape=(n,), maxshape=(None,), dtype=h5py.string_dtype())
        self._len = self._f.create_dataset("num_samples", shape=(n,), maxshape=(None,), dtype=np.int32)
        self._f.attrs["sample_rate"] = np.int32(self.sample_rate)
        self._f.attrs["classes"] = json.dumps(list(self.classes))
        return self

    def write(self, name: str, x: np.ndarray, target: np.ndarray, meta: dict) -> None:
        """One clip: float32 ``(samples,)``, multi-hot ``(classes,)``, JSON-able metadata."""
        i = self.n
        if i >= self.capacity:
            raise ValueError(f"{self.path}: more than {self.capacity} clips for this shard")
        clip = np.zeros(self.clip_samples, dtype=np.int16)
        k = min(self.clip_samples, x.shape[0])
        clip[:k] = float_to_int16(x[:k])
        self._name[i] = name.encode()[:64]
        self._wave[i] = clip
        self._target[i] = np.asarray(target, dtype=bool)
        self._meta[i] = json.dumps(meta, separators=(",", ":"))
        self._len[i] = k
        self.n += 1

    def __exit__(self, *exc):
        try:
            if self.n < max(self.capacity, 1):  # bad files were left out: shrink to the clips written
                for d in (self._name, self._wave, self._target, self._meta, self._len):
                    d.resize(self.n, axis=0)
        finally:
            self._f.close()
        return False


def describe_hdf5_folder(root: str | os.PathLike):
    """A :class:`~audiocnn.data.shards.index.PackedIndex` for a folder of PANNs HDF5 files
    (no ``index.json``): one shard per ``*.h5``, classes from the ``classes`` attribute or
    ``class_0..``, class counts from ``target``. No checksums (the files were not packed here)."""
    from audiocnn.data.shards.index import PackedIndex, ShardInfo

    h5py = _h5py()
    root = Path(root)
    shards, classes, rate, clip = [], None, None, None
    for p in sorted(root.glob("*.h5")):
        with h5py.File(p, "r") as f:
            if "waveform" not in f or "target" not in f:
                raise ValueError(f"{p}: not a PANNs waveform file (needs 'waveform' and 'target' datasets)")
            n, c = f["target"].shape
            sr = int(f.attrs.get("sample_rate", 32000))
            names = json.loads(f.attrs["classes"]) if "classes" in f.attrs else [f"class_{i}" for i in range(c)]
            if classes is None:
                classes, rate, clip = tuple(names), sr, f["waveform"].shape[1] / sr
            elif len(names) != len(classes) or sr != rate:
                raise ValueError(f"{p}: {len(names)} classes at {sr} Hz, the other files have {len(classes)} at {rate} Hz")
            counts = np.zeros(c, dtype=np.int64)
            for s in range(0, n, 4096):
                counts += f["target"][s : s + 4096].sum(axis=0)
        shards.append(ShardInfo(p.name, int(n), p.stat().st_size, "", n * clip, counts.tolist()))
    if not shards:
        raise FileNotFoundError(f"{root}: no .h5 files")
    assert rate is not None and classes is not None  # set by the first file
    return PackedIndex(root, "hdf5", rate, classes, True, shards, codec="int16", clip_seconds=clip, source=f"hdf5:{root.name}")


class PackedClipDataset(torch.utils.data.Dataset):
    """Random access to the clips of HDF5 shards: item ``i`` -> ``(waveform (clip_samples,)
    float32, target)``; the target is a class index (single-label) or a float32 multi-hot vector.

    Files are opened lazily in each process (DataLoader workers included) and kept open.

    Args:
        index: a packed HDF5 folder's :class:`~audiocnn.data.shards.index.PackedIndex`.
        clip_seconds: length of the returned clips (default: the packed length); longer packed
            clips are cut (``train``: a random offset drawn from ``(seed, epoch, i)``; else the
            centre).
        shards: names of the shards to use (default all).
    """

    def __init__(self, index, clip_seconds: float | None = None, *, train: bool = True, seed: int = 0, shards=None):
        if index.format != "hdf5":
            raise ValueError(f"{index.root}: PackedClipDataset reads HDF5 shards, this folder holds {index.format}")
        use = set(shards) if shards is not None else None
        self.index = index
        self.shards = [s for s in index.shards if use is None or s.name in use]
        self.offsets = np.cumsum([0] + [s.samples for s in self.shards])
        sr = index.sample_rate
        self.clip_samples = int(round((clip_seconds or index.clip_seconds or 10.0) * sr))
        self.train, self.seed, self.epoch = bool(train), int(seed), 0
        self.multilabel = index.multilabel
        self._files: dict[int, object] = {}
        self._pid: int | None = None

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _file(self, s: int):
        if self._pid != os.getpid():  # a forked worker must not share its parent's handles
            self._files, self._pid = {}, os.getpid()
        if s not in self._files:
            self._files[s] = _h5py().File(self.index.path(self.shards[s]), "r")
        return self._files[s]

    def locate(self, i: int) -> tuple[int, int]:
        s = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return s, int(i - self.offsets[s])

    def targets(self) -> np.ndarray:
        """``(n, classes)`` bool, read file by file (1 byte per clip and class)."""
        return np.concatenate([self._file(s)["target"][:] for s in range(len(self.shards))]) if self.shards else np.zeros((0, len(self.index.classes)), bool)

    def __getitem__(self, i: int):
        if not 0 <= i < len(self):
            raise IndexError(f"clip {i} out of range (0..{len(self) - 1})")
        s, r = self.locate(i)
        f = self._file(s)
        x = f["waveform"][r].astype(np.float32) / 32767.0
        n = self.clip_samples
        if x.shape[0] > n:
            if self.train:
                start = int(np.random.default_rng([self.seed, self.epoch, i]).integers(0, x.shape[0] - n + 1))
            else:
                start = (x.shape[0] - n) // 2
            x = x[start : start + n]
        elif x.shape[0] < n:
            x = np.pad(x, (0, n - x.shape[0]))
        t = f["target"][r]
        y = torch.from_numpy(t.astype(np.float32)) if self.multilabel else torch.tensor(int(np.argmax(t)))
        return torch.from_numpy(np.ascontiguousarray(x)), y
