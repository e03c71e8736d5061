"""Embeddings of files: one row per file, or one row per window with its timestamp.

- Per file: the model's ``"embedding"`` output averaged over the windows of its bundle (the
  windows :class:`~audiocnn.Tagger` scores: a trained model's clip length, 10 s for PANNs).
- Per window (``per_window=True``): windows of ``window_seconds`` every ``hop_seconds``
  (defaults 1 s / 0.5 s); the timestamp of a row is its window's centre in seconds. The last
  window is aligned with the end of the file, so its hop can be shorter.

Files are read chunk by chunk (flat memory in file length) and can be decoded in worker processes.

Every row also has the span of audio it embeds, ``window_starts`` / ``window_ends`` in seconds:
the window for per-window rows; for per-file rows from the first window's start to the last
window's end, at most the file's duration.

Output formats (:meth:`EmbeddingSet.save`, ``audiocnn embed --format``):

``npz`` (:meth:`EmbeddingSet.save_npz`)
    ``embeddings`` ``(rows, dim)`` float32; ``paths`` ``(files,)``; ``file_index`` ``(rows,)``
    (row -> index into ``paths``); ``window_starts`` / ``window_ends`` ``(rows,)`` seconds;
    ``timestamps`` ``(rows,)`` window centres in seconds (per-window only); ``failed_paths`` /
    ``failed_types`` / ``failed_reasons`` (one entry per file that failed: its path, the error
    type and the message of :mod:`audiocnn.errors`); ``model``, ``sample_rate``.
``parquet`` (:meth:`EmbeddingSet.save_parquet`, needs pyarrow)
    One row per embedding: ``path`` (string), ``window_start`` / ``window_end`` (float64,
    seconds), ``embedding`` (list<float32>), ``error`` (struct ``{type, message}``, null), then
    one row per file that failed: its ``path`` and ``error``, the other columns null. The schema
    metadata ``audiocnn`` (JSON) holds ``model``, ``sample_rate`` and ``dim``.
``npy`` (:meth:`EmbeddingSet.save_npy`)
    ``X.npy``: the ``(rows, dim)`` float32 array; ``X.csv`` beside it, the index:
    ``row,path,window_start,window_end,error_type,error_message``, one line per array row, then
    one per file that failed (``row`` empty, the error filled).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from typing import Any
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from audiocnn.atomic import atomic_path, write_text_atomic, write_with
from audiocnn.audio import aggregate, audio_info, check_waveform
from audiocnn.errors import FileError
from audiocnn.inference.loading import open_model
from audiocnn.inference.runtime import Runner
from audiocnn.inference.stream import batch_same_length, expand_paths, run_per_file, stream_windows
from audiocnn.models.base import AudioModel

__all__ = ["FORMATS", "EmbeddingSet", "Embedder"]

FORMATS = ("npz", "parquet", "npy")
"""The file formats of :meth:`EmbeddingSet.save`; each is also the file's suffix."""


@dataclass
class EmbeddingSet:
    """Embeddings of a set of files (see the module docstring for the fields)."""

    embeddings: np.ndarray
    paths: list[str]
    file_index: np.ndarray
    timestamps: np.ndarray | None = None
    failed: dict[str, FileError] = field(default_factory=dict)
    model: str = ""
    sample_rate: int = 0
    window_starts: np.ndarray | None = None
    window_ends: np.ndarray | None = None

    def failure_records(self) -> list[dict]:
        """``[{"path", "error": {"type", "message"}}]`` for the files that failed."""
        return [{"path": p, "error": FileError.from_reason(e).to_dict()} for p, e in self.failed.items()]

    def row_spans(self) -> tuple[np.ndarray, np.ndarray]:
        """``(window_starts, window_ends)`` ``(rows,)`` float64 seconds (NaN where unknown)."""
        n = self.embeddings.shape[0]
        starts = self.window_starts if self.window_starts is not None else np.full(n, np.nan)
        ends = self.window_ends if self.window_ends is not None else np.full(n, np.nan)
        return np.asarray(starts, np.float64), np.asarray(ends, np.float64)

    def save(self, path: str | os.PathLike, format: str | None = None) -> Path:
        """Write in ``format`` (one of :data:`FORMATS`; default: the suffix of ``path``, else
        ``npz``). ``path`` must end in ``.<format>``."""
        path = Path(path)
        fmt = format or (path.suffix[1:] if path.suffix[1:] in FORMATS else "npz")
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
        return {"npz": self.save_npz, "parquet": self.save_parquet, "npy": self.save_npy}[fmt](path)

    def _check_suffix(self, path: Path, suffix: str) -> None:
        if path.suffix != suffix:
            raise ValueError(f"{path}: the embeddings file must end in {suffix}")

    def save_parquet(self, path: str | os.PathLike) -> Path:
        """One Parquet file (columns in the module docstring)."""
        path = Path(path)
        self._check_suffix(path, ".parquet")
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as e:
            raise ImportError(f'{path}: Parquet output needs pyarrow, which is not installed: pip install "audiocnn[parquet]"') from e
        starts, ends = self.row_spans()
        nan_free = lambda a: [None if np.isnan(v) else float(v) for v in a]  # noqa: E731
        failures = self.failure_records()
        error = pa.struct([("type", pa.string()), ("message", pa.string())])
        schema = pa.schema(
            [("path", pa.string()), ("window_start", pa.float64()), ("window_end", pa.float64()),
             ("embedding", pa.list_(pa.float32())), ("error", error)],
            metadata={"audiocnn": json.dumps({"model": self.model, "sample_rate": int(self.sample_rate), "dim": int(self.embeddings.shape[1])})},
        )
        embeddings = pa.FixedSizeListArray.from_arrays(pa.array(self.embeddings.astype(np.float32).ravel()), self.embeddings.shape[1]).cast(pa.list_(pa.float32()))
        table = pa.table({
            "path": [self.paths[i] for i in self.file_index] + [f["path"] for f in failures],
            "window_start": nan_free(starts) + [None] * len(failures),
            "window_end": nan_free(ends) + [None] * len(failures),
            "embedding": pa.concat_arrays([embeddings, pa.nulls(len(failures), pa.list_(pa.float32()))]),
            "error": [None] * len(starts) + [f["error"] for f in failures],
        }, schema=schema)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return path

    def save_npy(self, path: str | os.PathLike) -> Path:
        """``path`` (``.npy``, the ``(rows, dim)`` array) and its index ``path.with_suffix(".csv")``."""
        path = Path(path)
        self._check_suffix(path, ".npy")
        starts, ends = self.row_spans()
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["row", "path", "window_start", "window_end", "error_type", "error_message"])
        for row, (i, s, e) in enumerate(zip(self.file_index, starts, ends)):
            w.writerow([row, self.paths[i], "" if np.isnan(s) else repr(float(s)), "" if np.isnan(e) else repr(float(e)), "", ""])
        for f in self.failure_records():
            w.writerow(["", f["path"], "", "", f["error"]["type"], f["error"]["message"]])
        write_with(path, lambda tmp: np.save(tmp, self.embeddings.astype(np.float32)))
        write_text_atomic(path.with_suffix(".csv"), buf.getvalue())
        return path

    def save_npz(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        if path.suffix != ".npz":
            raise ValueError(f"{path}: the embeddings file must end in .npz (numpy would write {path}.npz)")
        starts, ends = self.row_spans()
        arrays: dict[str, Any] = {
            "embeddings": self.embeddings.astype(np.float32),
            "paths": np.array(self.paths, dtype=str),
            "file_index": self.file_index.astype(np.int64),
            "failed_paths": np.array(list(self.failed), dtype=str),
            "failed_types": np.array([FileError.from_reason(e).type for e in self.failed.values()], dtype=str),
            "failed_reasons": np.array([str(e) for e in self.failed.values()], dtype=str),
            "model": np.array(self.model),
            "sample_rate": np.array(self.sample_rate),
            "window_starts": starts,
            "window_ends": ends,
        }
        if self.timestamps is not None:
            arrays["timestamps"] = self.timestamps.astype(np.float64)
        return write_with(path, lambda tmp: np.savez(tmp, **arrays))


class Embedder:
    """Embeddings with any registered model (``model(waveform)["embedding"]``).

    Args:
        model / checkpoint / precision / batch_size / num_threads / calibration: as
            :class:`~audiocnn.Tagger`.
        clip_seconds: window for per-file embeddings (default: the bundle's).
        window_seconds / hop_seconds: windows for per-window embeddings (default 1 s / 0.5 s).
    """

    def __init__(
        self,
        model: str | AudioModel | None = None,
        checkpoint: str | os.PathLike | None = None,
        precision: str = "fp32",
        batch_size: int = 8,
        num_threads: int | None = None,
        clip_seconds: float | None = None,
        window_seconds: float = 1.0,
        hop_seconds: float = 0.5,
        calibration: Any = None,
    ) -> None:
        net, self.bundle = open_model(model, checkpoint, clip_seconds=clip_seconds)
        self.runner = Runner(net, precision=precision, copy=isinstance(model, AudioModel), num_threads=num_threads, calibration=calibration)
        self.info = net.info
        self.sample_rate = net.sample_rate
        self.embedding_dim = net.embedding_dim
        self.batch_size = batch_size
        sr = self.sample_rate
        self.windowing = self.bundle.windowing
        self.clip, self.clip_hop = self.windowing.sizes(sr, net.info.min_samples)
        self.window = max(int(round(window_seconds * sr)), net.info.min_samples)
        self.hop = min(max(1, int(round(hop_seconds * sr))), self.window)

    @classmethod
    def from_checkpoint(cls, checkpoint: str | os.PathLike, **kwargs: Any) -> Embedder:
        """An embedder for a checkpoint or model folder with a bundle; ``kwargs`` as the class."""
        return cls(kwargs.pop("model", None), checkpoint=checkpoint, **kwargs)

    def embed_batch(self, waveforms: torch.Tensor | np.ndarray) -> np.ndarray:
        """``(batch, samples)`` -> ``(batch, dim)`` float32 (inputs checked and integer PCM rescaled
        by :func:`audiocnn.audio.check_waveform`)."""
        waveforms = check_waveform(waveforms, "waveforms", allow_2d=True)
        return self.runner(waveforms)["embedding"].numpy()

    def embed_files(
        self,
        paths: Iterable[str | os.PathLike] | str | os.PathLike,
        per_window: bool = False,
        num_workers: int = 0,
        progress: bool = False,
    ) -> EmbeddingSet:
        """Embed files (folders walked). Unreadable files are recorded in ``failed``, and so is a
        file whose windows make the model raise (``model_error``; the batch is run again file by
        file, so the other files of the batch keep their embeddings)."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        files = expand_paths(list(paths))
        window, hop = (self.window, self.hop) if per_window else (self.clip, self.clip_hop)
        pad = self.windowing.pad_short and not per_window
        items = stream_windows(files, self.sample_rate, window, num_workers=num_workers, hop=hop, batch_size=self.batch_size, pad_short=pad)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(files), unit="file", desc="embedding", dynamic_ncols=True, disable=None)  # None: no bar unless stderr is a terminal
        rows: list[tuple[int, float, float, np.ndarray]] = []  # (file, start, end seconds, embedding)
        failed: dict[int, FileError] = {}
        try:
            for windows, batch, markers in batch_same_length(items, self.batch_size):
                if windows:  # a model error is the failure of the file(s) whose windows cause it
                    assert batch is not None  # windows come stacked
                    vectors, model_failed = run_per_file(self.embed_batch, windows, batch)
                    for i, e in model_failed.items():
                        failed.setdefault(i, e)
                    length = batch.shape[1] / self.sample_rate
                    rows.extend((w.index, w.start, w.start + length, v) for w, v in zip(windows, vectors) if v is not None)
                for m in markers:
                    if m.error is not None:
                        failed.setdefault(m.index, m.error)
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        ok = [i for i in range(len(files)) if i not in failed]
        new_index = {old: new for new, old in enumerate(ok)}
        rows = [r for r in rows if r[0] in new_index]  # windows of a file that failed later
        rows.sort(key=lambda r: (r[0], r[1]))
        dim = rows[0][3].shape[0] if rows else self.embedding_dim
        starts = np.array([r[1] for r in rows], dtype=np.float64)
        ends = np.array([r[2] for r in rows], dtype=np.float64)
        if per_window:
            emb = np.stack([r[3] for r in rows]) if rows else np.zeros((0, dim), np.float32)
            file_index = np.array([new_index[r[0]] for r in rows], dtype=np.int64)
            timestamps = (starts + ends) / 2
        else:
            owners = np.array([new_index[r[0]] for r in rows], dtype=np.int64)
            emb = aggregate(np.stack([r[3] for r in rows]), owners, len(ok), "mean") if ok else np.zeros((0, dim), np.float32)
            file_index = np.arange(len(ok), dtype=np.int64)
            timestamps = None
            first, last = np.full(len(ok), np.inf), np.zeros(len(ok))
            np.minimum.at(first, owners, starts)
            np.maximum.at(last, owners, ends)
            # a file shorter than the clip is zero-padded to it: its span ends where the file does
            starts, ends = first, np.minimum(last, [_duration(files[i], e) for i, e in zip(ok, last)])
        return EmbeddingSet(
            embeddings=emb.astype(np.float32),
            paths=[str(files[i]) for i in ok],
            file_index=file_index,
            timestamps=timestamps,
            failed={str(files[i]): r for i, r in sorted(failed.items())},
            model=self.info.name,
            sample_rate=self.sample_rate,
            window_starts=starts,
            window_ends=ends,
        )


def _duration(path: Path, fallback: float) -> float:
    """The duration of ``path`` in seconds from its header (``fallback`` if it cannot be read)."""
    try:
        return float(audio_info(path)["duration"])
    except Exception:  # noqa: BLE001 - the file was decoded a moment ago; a header that fails now keeps the window's end
        return fallback
