"""Audio tagging: clip-level class probabilities for waveforms and files.

    tagger = audiocnn.Tagger("cnn14", checkpoint="Cnn14_mAP=0.431.pth",
                             labels="class_labels_indices.csv")
    probs = tagger.predict_proba(waveforms)            # (batch, classes) numpy
    for r in tagger.tag(["a.wav", "recordings/"]):     # folders are walked
        print(r.path, r.tags[0].label, r.tags[0].probability)

Long inputs are cut into windows of ``clip_seconds`` (default 10 s, the PANNs training length)
with hop = window; the last window is aligned with the end of the input so that nothing is
zero-padded. An input no longer than one window is processed whole. The clip-level
probability of a long input is the **mean** over windows of the window probabilities
(``aggregate="max"`` takes the maximum instead: better for rare short events, more false
alarms). Files are read chunk by chunk, so memory stays flat in file length.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from audiocnn.audio import resample
from audiocnn.inference._stream import WindowItem, batch_same_length, expand_paths, stream_windows, windows_of
from audiocnn.inference.labels import resolve_labels
from audiocnn.inference.runtime import Runner, activation_for, load_model, to_probabilities
from audiocnn.models.base import AudioModel

__all__ = ["Tag", "TagResult", "Tagger"]

log = logging.getLogger("audiocnn.inference")


@dataclass
class Tag:
    label: str
    index: int
    probability: float


@dataclass
class TagResult:
    """Tags of one file (or one input waveform).

    ``probabilities`` holds all class probabilities (not included by :meth:`to_dict` unless
    asked). ``error`` is set (and ``tags`` empty) when the file could not be read.
    """

    path: str
    tags: list[Tag] = field(default_factory=list)
    duration: float = 0.0
    windows: int = 0
    probabilities: np.ndarray | None = field(default=None, repr=False)
    error: str | None = None

    def to_dict(self, probabilities: bool = False) -> dict:
        d = asdict(self)
        d.pop("probabilities")
        if probabilities and self.probabilities is not None:
            d["probabilities"] = self.probabilities.tolist()
        return d


class _Accumulator:
    """Per-file aggregation of window probabilities (mean or max)."""

    def __init__(self, aggregate: str):
        self.aggregate = aggregate
        self.total = None
        self.count = 0
        self.duration = 0.0
        self.expected: int | None = None  # known once the end-of-file marker arrives
        self.error: str | None = None

    def add(self, p: np.ndarray, start: float, seconds: float) -> None:
        if self.total is None:
            self.total = p.astype(np.float64)
        elif self.aggregate == "max":
            np.maximum(self.total, p, out=self.total)
        else:
            self.total += p
        self.count += 1
        self.duration = max(self.duration, start + seconds)

    @property
    def done(self) -> bool:
        return self.expected is not None and self.count >= self.expected

    def result(self) -> np.ndarray:
        return (self.total / self.count if self.aggregate == "mean" else self.total).astype(np.float32)


class Tagger:
    """Clip-level tagging with any registered model.

    Args:
        model: registry name (``"cnn14"``) or an :class:`AudioModel`.
        checkpoint: weights file (official PANNs or audiocnn). Without one, a registry name
            gives random weights and a loud warning.
        labels: list of names or a labels file (``class_labels_indices.csv`` style, or one name per
            line); default: the checkpoint's metadata, else ``class_0..``.
        precision: ``"fp32"``, ``"bf16"`` or ``"int8"`` (see :mod:`audiocnn.inference.runtime`;
            docs/inference.md). ``"bf16"`` is the fast path: Cnn14 ran ~3x faster than fp32 on a
            CPU with AVX512-BF16 (Winograd deep convolutions) and moved a trained Cnn14's
            probabilities by under 0.01. ``"int8"`` is faster still (~4x) but moved them by up to
            0.03 when calibrated on the scored audio, and 0.27 with the synthetic default: pass
            ``calibration``.
        batch_size: windows per forward pass.
        clip_seconds: window length for long inputs (default 10 s).
        num_threads: torch CPU threads (process-wide).
        aggregate: ``"mean"`` (default) or ``"max"`` over windows of a long input.
        activation: ``"sigmoid"``/``"softmax"``; default from checkpoint metadata (sigmoid,
            multi-label as PANNs, unless the metadata says single-label).
        backend: ``"torch"`` (default) or ``"onnxruntime"`` (exports the model at start-up and
            runs the ONNX graph; fp32 only).
        calibration: ``precision="int8"`` only: ``(clips, samples)`` waveforms at the model's rate,
            or audio files / folders, to calibrate the int8 activation ranges on (default: a
            built-in synthetic set; clips like the ones to tag are better).
    """

    def __init__(
        self,
        model: str | AudioModel,
        checkpoint: str | os.PathLike | None = None,
        labels: str | os.PathLike | Sequence[str] | None = None,
        precision: str = "fp32",
        batch_size: int = 8,
        clip_seconds: float | None = None,
        num_threads: int | None = None,
        aggregate: str = "mean",
        activation: str | None = None,
        backend: str = "torch",
        calibration=None,
    ):
        if aggregate not in ("mean", "max"):
            raise ValueError(f"aggregate must be 'mean' or 'max', got {aggregate!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        net, meta = load_model(model, checkpoint)
        self.metadata = meta
        self.runner = Runner(net, precision=precision, copy=isinstance(model, AudioModel), num_threads=num_threads, backend=backend, calibration=calibration)
        self.model = self.runner.model
        self.sample_rate = net.sample_rate
        self.labels = resolve_labels(labels, net.num_classes, meta)
        self.activation = activation or activation_for(meta)
        self.batch_size = batch_size
        self.clip_seconds = float(clip_seconds) if clip_seconds else 10.0
        self.window = max(int(round(self.clip_seconds * self.sample_rate)), net.info.min_samples)
        self.aggregate = aggregate
        self.precision = precision

    # -- arrays ------------------------------------------------------------------------------
    def forward_windows(self, batch: torch.Tensor) -> np.ndarray:
        """Probabilities ``(batch, classes)`` for a stacked batch of equal-length windows."""
        logits = self.runner(batch)["logits"].numpy()
        return to_probabilities(logits, self.activation)

    def predict_proba(self, waveforms, sample_rate: int | None = None) -> np.ndarray:
        """Clip-level probabilities ``(batch, classes)``.

        Args:
            waveforms: ``(batch, samples)`` or ``(samples,)`` array/tensor at ``sample_rate``, or a
                list of 1-D arrays of any lengths.
            sample_rate: rate of ``waveforms`` in Hz; resampled (with a log line) when it differs
                from the model's. Default: the model's rate.
        """
        if isinstance(waveforms, torch.Tensor):
            waveforms = waveforms.detach().cpu().numpy()
        if isinstance(waveforms, np.ndarray):
            if waveforms.ndim == 1:
                waveforms = waveforms[None]
            if waveforms.ndim != 2:
                raise ValueError(f"expected (batch, samples) or (samples,), got shape {waveforms.shape}")
        rows = [np.asarray(w, dtype=np.float32) for w in waveforms]
        if sample_rate is not None and sample_rate != self.sample_rate:
            log.info("resampling %d input(s) from %d Hz to the model's %d Hz (soxr)", len(rows), sample_rate, self.sample_rate)
            rows = [resample(r, sample_rate, self.sample_rate) for r in rows]
        items = []
        for i, r in enumerate(rows):
            if r.ndim != 1:
                raise ValueError(f"input {i}: expected a 1-D waveform, got shape {r.shape}")
            for start, w in windows_of(r, self.window):
                items.append(WindowItem(i, start / self.sample_rate, w))
            items.append(WindowItem(i, end=True))
        results = self._run(iter(items), len(rows))
        return np.stack([acc.result() for acc in results])

    # -- files -------------------------------------------------------------------------------
    def tag(
        self,
        paths: str | os.PathLike | Iterable[str | os.PathLike],
        top_k: int = 5,
        num_workers: int = 0,
        errors: str = "raise",
        progress: bool = False,
    ) -> list[TagResult]:
        """Tag files (folders are walked for audio files).

        Args:
            paths: files and/or folders.
            top_k: tags kept per file, by decreasing probability.
            num_workers: decoding processes (0: decode in this process). With workers, decoding and
                resampling overlap with the model.
            errors: ``"raise"`` (stop at the first unreadable file, with its reason) or
                ``"record"`` (keep going; failed files get ``error`` set and no tags).
            progress: show a tqdm bar (files/s).
        """
        if errors not in ("raise", "record"):
            raise ValueError(f"errors must be 'raise' or 'record', got {errors!r}")
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        files = expand_paths(list(paths))
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(files), unit="file", desc="tagging", dynamic_ncols=True)
        items = stream_windows(files, self.sample_rate, self.window, num_workers=num_workers, batch_size=self.batch_size)
        try:
            accs = self._run(items, len(files), errors=errors, paths=files, bar=bar)
        finally:
            if bar is not None:
                bar.close()
        out = []
        for path, acc in zip(files, accs):
            if acc.error is not None:
                out.append(TagResult(str(path), error=acc.error))
                continue
            p = acc.result()
            out.append(TagResult(str(path), self.top_tags(p, top_k), round(acc.duration, 3), acc.count, p))
        return out

    def top_tags(self, probabilities: np.ndarray, top_k: int = 5) -> list[Tag]:
        order = np.argsort(-probabilities, kind="stable")[: max(int(top_k), 0)]
        return [Tag(self.labels[i], int(i), float(probabilities[i])) for i in order]

    # -- core --------------------------------------------------------------------------------
    def _run(self, items, n: int, errors: str = "raise", paths=None, bar=None) -> list[_Accumulator]:
        accs = [_Accumulator(self.aggregate) for _ in range(n)]
        for windows, batch, markers in batch_same_length(items, self.batch_size):
            if windows:
                probs = self.forward_windows(batch)
                seconds = batch.shape[1] / self.sample_rate
                for w, p in zip(windows, probs):
                    accs[w.index].add(p, w.start, seconds)
            for m in markers:
                acc = accs[m.index]
                if m.error is not None:
                    if errors == "raise":
                        raise FileNotFoundError(f"{paths[m.index]}: {m.error}") if "not found" in m.error else ValueError(f"{paths[m.index]}: {m.error}")
                    acc.error = m.error
                    acc.expected = 0
                    log.debug("%s: %s", paths[m.index], m.error)
                else:
                    acc.expected = acc.count if acc.expected is None else acc.expected
                if bar is not None:
                    bar.update(1)
        return accs

