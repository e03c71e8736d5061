"""Streaming files as fixed windows, decoded in worker processes, batched for the model.

Memory stays flat in file length: a file is read chunk by chunk
(:func:`audiocnn.audio.iter_audio_chunks`), and only a few windows per worker are in flight.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from audiocnn.audio import audio_info, iter_file_windows
from audiocnn.errors import FileError

__all__ = [
    "AUDIO_EXTENSIONS",
    "WindowItem",
    "batch_same_length",
    "expand_paths",
    "file_windows",
    "log_resample",
    "run_per_file",
    "stream_windows",
]

log = logging.getLogger("audiocnn.inference")

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au", ".opus")

_logged_rates: set[tuple[int, int]] = set()


def log_resample(path: str | os.PathLike, orig_sr: int, target_sr: int) -> None:
    """One INFO line per (source rate, target rate) pair and process, DEBUG for every file."""
    if orig_sr == target_sr:
        return
    if (orig_sr, target_sr) not in _logged_rates:
        _logged_rates.add((orig_sr, target_sr))
        log.info("resampling %s from %d Hz to the model's %d Hz (soxr; further files at %d Hz logged at DEBUG)", path, orig_sr, target_sr, orig_sr)
    else:
        log.debug("resampling %s from %d Hz to %d Hz", path, orig_sr, target_sr)


def expand_paths(paths: Sequence[str | os.PathLike], extensions: Sequence[str] = AUDIO_EXTENSIONS) -> list[Path]:
    """Files as given, folders walked recursively for files with an audio extension (sorted).

    A path that does not exist is kept, so that it is reported as a failure with its reason.
    """
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in extensions))
        else:
            out.append(p)
    return out


@dataclass
class WindowItem:
    """One unit of work: a window of file ``index``, an end-of-file marker or an error."""

    index: int
    start: float = 0.0
    samples: np.ndarray | None = None
    end: bool = False  # no more windows for this file
    error: FileError | None = None


def file_windows(
    path: str | os.PathLike, sample_rate: int, window: int, hop: int | None = None, pad_short: bool = False
) -> Iterator[tuple[float, np.ndarray]]:
    """:func:`audiocnn.audio.iter_file_windows` with a log line when the file is resampled."""
    log_resample(path, audio_info(path)["sample_rate"], sample_rate)
    return iter_file_windows(path, sample_rate, window, hop, pad_short=pad_short)


class _WindowDataset(IterableDataset):
    def __init__(self, paths: Sequence[Path], sample_rate: int, window: int, hop: int | None = None, pad_short: bool = False):
        self.paths, self.sample_rate, self.window, self.hop, self.pad_short = list(paths), sample_rate, window, hop, pad_short

    def __iter__(self) -> Iterator[WindowItem]:
        worker = get_worker_info()
        wid, n = (worker.id, worker.num_workers) if worker else (0, 1)
        for i in range(wid, len(self.paths), n):
            count = 0
            try:
                for start, x in file_windows(self.paths[i], self.sample_rate, self.window, self.hop, self.pad_short):
                    # from a worker, a tensor travels through shared memory (a handle is sent);
                    # a numpy array would be pickled through the pipe, 1.3 MB per 10-s window
                    # (stream_windows turns it back into an array)
                    yield WindowItem(i, start, cast(np.ndarray, torch.from_numpy(x)) if worker else x)
                    count += 1
            except Exception as e:  # noqa: BLE001 - one bad file must not stop the rest
                yield WindowItem(i, end=True, error=FileError.from_exception(e))
                continue
            yield WindowItem(i, end=True, error=None if count else FileError("no_samples", "no window after decoding"))


def _identity(item: Any) -> Any:
    return item


def stream_windows(
    paths: Sequence[Path],
    sample_rate: int,
    window: int,
    num_workers: int = 0,
    prefetch: int = 4,
    hop: int | None = None,
    batch_size: int | None = None,
    pad_short: bool = False,
) -> Iterator[WindowItem]:
    """Windows of all ``paths`` (decoded in ``num_workers`` processes when > 0, overlapped with
    whatever the caller does with them).

    ``prefetch`` windows are decoded ahead per worker; with ``batch_size`` given, at least two
    batches' worth over all workers, so that the workers keep decoding the next batch while
    the model runs on this one (with fewer in flight than a batch, every batch waited for the
    decoding of its last windows).
    """
    ds = _WindowDataset(paths, sample_rate, window, hop, pad_short)
    if num_workers <= 0:
        yield from iter(ds)
        return
    num_workers = min(num_workers, max(len(paths), 1))
    if batch_size:
        prefetch = max(prefetch, -(-2 * batch_size // num_workers))
    loader = DataLoader(
        ds,
        batch_size=None,
        num_workers=num_workers,
        prefetch_factor=prefetch,
        collate_fn=_identity,
        persistent_workers=False,
        multiprocessing_context="fork" if hasattr(os, "fork") else None,
    )
    for item in loader:
        if isinstance(item.samples, torch.Tensor):
            item.samples = item.samples.numpy()  # a view: the shared-memory tensor stays alive
        yield item


def batch_same_length(items: Iterator[WindowItem], batch_size: int) -> Iterator[tuple[list[WindowItem], torch.Tensor | None, list[WindowItem]]]:
    """Group consecutive windows of equal length into batches of at most ``batch_size``.

    Yields ``(windows, stacked_samples, markers)``: ``markers`` are end-of-file/error items that
    arrived before the batch was flushed and must be handled *after* it.
    """
    pending: list[WindowItem] = []
    stack: list[np.ndarray] = []  # the samples of ``pending``
    markers: list[WindowItem] = []
    for item in items:
        if item.samples is None:
            markers.append(item)
            continue
        if pending and (len(pending) >= batch_size or stack[0].shape[0] != item.samples.shape[0]):
            yield pending, torch.from_numpy(np.stack(stack)), markers
            pending, stack, markers = [], [], []
        pending.append(item)
        stack.append(item.samples)
    if pending:
        yield pending, torch.from_numpy(np.stack(stack)), markers
    elif markers:
        yield [], None, markers


def run_per_file(
    fn: Callable[[torch.Tensor], np.ndarray], windows: list[WindowItem], batch: torch.Tensor
) -> tuple[list[np.ndarray | None], dict[int, FileError]]:
    """``fn(batch)`` row by row, such that a model error names only the file that causes it.

    ``fn`` maps a stacked batch ``(windows, samples)`` to one output per window. When it raises on
    the whole batch, the windows of each file are run again on their own (one call per file), so
    the files whose windows run are kept and each file whose windows raise again gets a
    ``model_error``.

    Returns:
        ``(outputs, errors)``: one output per window (``None`` for the windows of a failed file)
        and the failed files' :class:`~audiocnn.errors.FileError` by file index.
    """
    try:
        return list(fn(batch)), {}
    except Exception:  # noqa: BLE001 - retried file by file below, to find the file(s) at fault
        pass
    rows: dict[int, list[int]] = {}
    for k, w in enumerate(windows):
        rows.setdefault(w.index, []).append(k)
    outputs: list[np.ndarray | None] = [None] * len(windows)
    errors: dict[int, FileError] = {}
    for index, ks in rows.items():
        try:
            for k, out in zip(ks, fn(batch[ks])):
                outputs[k] = out
        except Exception as e:  # noqa: BLE001 - this file's windows make the model fail
            errors[index] = FileError("model_error", f"the model failed on this file ({type(e).__name__}: {e})")
            log.debug("file %d: model error %s", index, e)
    return outputs, errors
