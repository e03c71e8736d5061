"""Audio tagging: clip-level class probabilities for waveforms and files.

    tagger = audiocnn.Tagger("cnn14", checkpoint="Cnn14_mAP=0.431.pth",
                             labels="class_labels_indices.csv")
    probs = tagger.predict_proba(waveforms)            # (batch, classes) numpy
    for r in tagger.tag(["a.wav", "recordings/"]):     # folders are walked
        print(r.path, r.tags[0].label, r.tags[0].probability)

A model's bundle says how inputs are windowed (:mod:`audiocnn.audio.windows`): a model trained
by ``audiocnn train`` scores windows of its training clip length every half clip, with short
inputs zero-padded as in training, exactly as its evaluation did; an official PANNs checkpoint
scores 10-s windows (its training length) without overlap, short inputs whole. The last window
of a long input is aligned with its end, so nothing is padded. The clip-level probability is the
mean over windows (``aggregate="max"`` takes the maximum: better for rare short events, more
false alarms). Files are read chunk by chunk, so memory stays flat in file length.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from audiocnn.audio import aggregate, apply_windowed, check_waveform, resample
from audiocnn.errors import FileError
from audiocnn.inference.loading import open_model
from audiocnn.inference.runtime import Runner
from audiocnn.inference.stream import batch_same_length, expand_paths, run_per_file, stream_windows
from audiocnn.models.base import AudioModel

__all__ = ["Tag", "TagResult", "Tagger", "Waveforms", "waveform_rows"]

Waveforms = np.ndarray | torch.Tensor | Sequence[np.ndarray]
"""Inputs of :meth:`Tagger.predict_proba`: ``(batch, samples)`` or ``(samples,)``, or 1-D arrays
of any lengths."""

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
    asked). ``error`` is set (and ``tags`` empty) when the file could not be read: a
    :class:`~audiocnn.errors.FileError` (the reason as a string, with its ``type``), written by
    :meth:`to_dict` as ``{"type": ..., "message": ...}``.
    """

    path: str
    tags: list[Tag] = field(default_factory=list)
    duration: float = 0.0
    windows: int = 0
    probabilities: np.ndarray | None = field(default=None, repr=False)
    error: FileError | None = None

    def to_dict(self, probabilities: bool = False) -> dict:
        """``{"path", "tags", "duration", "windows", "error": null}``; for a file that failed
        ``{"path", "error": {"type", "message"}}`` (the record of :mod:`audiocnn.errors`)."""
        if self.error is not None:
            return {"path": self.path, "error": FileError.from_reason(self.error).to_dict()}
        d = asdict(self)
        d.pop("probabilities")
        if probabilities and self.probabilities is not None:
            d["probabilities"] = self.probabilities.tolist()
        return d


def waveform_rows(waveforms: Waveforms, sample_rate: int | None = None) -> list[np.ndarray]:
    """The 1-D float32 waveforms of a ``(batch, samples)`` or ``(samples,)`` array/tensor or a list
    of 1-D arrays, each checked by :func:`audiocnn.audio.check_waveform` (``"waveform 3: ..."``)."""
    if sample_rate is not None and (isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0):
        raise ValueError(f"sample_rate: expected a positive integer (Hz), got {sample_rate!r}")
    if isinstance(waveforms, (np.ndarray, torch.Tensor)):
        if waveforms.ndim == 1:
            return [check_waveform(waveforms, "waveform")]
        if waveforms.ndim != 2:
            raise ValueError(f"waveforms: expected (batch, samples) or (samples,), got shape {tuple(waveforms.shape)}")
        if waveforms.shape[0] == 0:
            raise ValueError("waveforms: no waveform (batch of 0)")
        return [check_waveform(w, f"waveform {i}") for i, w in enumerate(waveforms)]
    rows = list(waveforms)
    if not rows:
        raise ValueError("waveforms: no waveform (an empty list)")
    return [check_waveform(w, f"waveform {i}") for i, w in enumerate(rows)]


class Tagger:
    """Clip-level tagging with any registered model.

    Args:
        model: registry name (``"cnn14"``), an :class:`AudioModel`, or ``None`` when
            ``checkpoint`` carries a bundle (a checkpoint or model folder written by
            ``audiocnn train``) that names the model.
        checkpoint: weights: a checkpoint file (official PANNs or audiocnn) or a model folder.
            Without one, a registry name gives random weights and a loud warning.
        labels: list of names or a labels file (``class_labels_indices.csv`` style, or one name per
            line); default: the bundle's, else ``class_0..``.
        precision: ``"fp32"``, ``"bf16"`` or ``"int8"`` (see :mod:`audiocnn.inference.runtime` and
            docs/inference.md). ``"bf16"`` is the fast path on a CPU with native bfloat16;
            ``"int8"`` is faster still but moves probabilities more: pass ``calibration``.
        batch_size: windows per forward pass.
        clip_seconds: window length (default: the bundle's).
        num_threads: torch CPU threads (process-wide).
        aggregate: ``"mean"`` or ``"max"`` over windows of a long input (default: the bundle's).
        activation: ``"sigmoid"``/``"softmax"`` (default: from the bundle's task).
        backend: ``"torch"`` (default) or ``"onnxruntime"`` (exports the model at start-up and
            runs the ONNX graph; fp32 only).
        calibration: ``precision="int8"`` only: ``(clips, samples)`` waveforms at the model's rate,
            or audio files / folders, to calibrate the int8 activation ranges on (default: a
            built-in synthetic set; clips like the ones to tag are better).
    """

    def __init__(
        self,
        model: str | AudioModel | None = None,
        checkpoint: str | os.PathLike | None = None,
        labels: str | os.PathLike | Sequence[str] | None = None,
        precision: str = "fp32",
        batch_size: int = 8,
        clip_seconds: float | None = None,
        num_threads: int | None = None,
        aggregate: str | None = None,
        activation: str | None = None,
        backend: str = "torch",
        calibration: Any = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        net, self.bundle = open_model(model, checkpoint, labels, clip_seconds=clip_seconds, aggregate=aggregate, activation=activation)
        self.runner = Runner(net, precision=precision, copy=isinstance(model, AudioModel), num_threads=num_threads, backend=backend, calibration=calibration)
        self.model = self.runner.model
        self.sample_rate = net.sample_rate
        self.labels = list(self.bundle.labels)
        self.activation = self.bundle.activation
        self.batch_size = batch_size
        self.windowing = self.bundle.windowing
        self.clip_seconds = self.windowing.clip_seconds
        self.window, self.hop = self.windowing.sizes(self.sample_rate, net.info.min_samples)
        self.aggregate = self.windowing.aggregate
        self.precision = precision

    @classmethod
    def from_checkpoint(cls, checkpoint: str | os.PathLike, **kwargs: Any) -> Tagger:
        """A tagger for a checkpoint or model folder with a bundle (``audiocnn train``'s output):
        model, labels, task and windowing all come from it; ``kwargs`` as :class:`Tagger`."""
        return cls(kwargs.pop("model", None), checkpoint=checkpoint, **kwargs)

    # -- arrays ------------------------------------------------------------------------------
    def forward_windows(self, batch: torch.Tensor | np.ndarray) -> np.ndarray:
        """Probabilities ``(batch, classes)`` for a stacked batch of equal-length windows."""
        return self.bundle.probabilities(self.runner(batch)["logits"]).numpy()

    def predict_proba(self, waveforms: Waveforms, sample_rate: int | None = None) -> np.ndarray:
        """Clip-level probabilities ``(batch, classes)``.

        Args:
            waveforms: ``(batch, samples)`` or ``(samples,)`` array/tensor at ``sample_rate``, or a
                list of 1-D arrays of any lengths. Float samples are taken as they are; integer
                PCM (int16, int32, uint8...) is rescaled to [-1, 1].
            sample_rate: rate of ``waveforms`` in Hz; resampled (with a log line) when it differs
                from the model's. Default: the model's rate.

        Raises:
            ValueError: naming the input and the rule: no waveform, an empty one, NaN/inf
                samples, a non-numeric array, a wrong shape.
        """
        return self._windowed(self.forward_windows, waveforms, sample_rate)

    def predict_proba_and_embedding(self, waveforms: Waveforms, sample_rate: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Clip-level probabilities ``(batch, classes)`` and the model's ``"embedding"`` output
        ``(batch, dim)``, from one pass over the windows :meth:`predict_proba` scores; both are
        combined over the windows of a long input by ``aggregate``. Arguments and errors as
        :meth:`predict_proba`."""
        classes = len(self.labels)

        def both(batch: np.ndarray) -> np.ndarray:
            out = self.runner(batch)
            return np.concatenate([self.bundle.probabilities(out["logits"]).numpy(), out["embedding"].numpy()], axis=1)

        joined = self._windowed(both, waveforms, sample_rate)
        return joined[:, :classes], joined[:, classes:]

    def _windowed(self, fn: Callable[[np.ndarray], np.ndarray], waveforms: Waveforms, sample_rate: int | None) -> np.ndarray:
        rows = waveform_rows(waveforms, sample_rate)
        if sample_rate is not None and sample_rate != self.sample_rate:
            log.info("resampling %d input(s) from %d Hz to the model's %d Hz (soxr)", len(rows), sample_rate, self.sample_rate)
            rows = [resample(r, sample_rate, self.sample_rate) for r in rows]
        return apply_windowed(
            fn, rows, self.window, self.hop,
            pad_short=self.windowing.pad_short, how=self.aggregate, batch_size=self.batch_size,
        )

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
                ``"record"`` (keep going; failed files get ``error`` set and no tags). With
                ``"record"``, a batch on which the model raises is run again file by file, and
                only the file(s) whose windows make it raise get a ``model_error``.
            progress: show a progress bar (files/s).
        """
        if errors not in ("raise", "record"):
            raise ValueError(f"errors must be 'raise' or 'record', got {errors!r}")
        if int(top_k) < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        files = expand_paths(list(paths))
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(files), unit="file", desc="tagging", dynamic_ncols=True, disable=None)  # None: no bar unless stderr is a terminal
        items = stream_windows(
            files, self.sample_rate, self.window, num_workers=num_workers, hop=self.hop,
            batch_size=self.batch_size, pad_short=self.windowing.pad_short,
        )
        probs: list[list[np.ndarray]] = [[] for _ in files]
        ends: list[float] = [0.0] * len(files)
        errs: dict[int, FileError] = {}
        try:
            for windows, batch, markers in batch_same_length(items, self.batch_size):
                if windows:
                    assert batch is not None  # windows come stacked
                    seconds = batch.shape[1] / self.sample_rate
                    outputs: np.ndarray | list[np.ndarray | None]
                    if errors == "raise":
                        outputs = self.forward_windows(batch)
                    else:  # a model error is the failure of the file(s) whose windows cause it
                        outputs, failed = run_per_file(self.forward_windows, windows, batch)
                        for i, e in failed.items():
                            errs.setdefault(i, e)
                            log.debug("%s: %s", files[i], e)
                    for w, p in zip(windows, outputs):
                        if p is not None:
                            probs[w.index].append(p)
                            ends[w.index] = max(ends[w.index], w.start + seconds)
                for m in markers:
                    if m.error is not None:
                        if errors == "raise":
                            cls = FileNotFoundError if m.error.type == "file_not_found" else ValueError
                            raise cls(f"{files[m.index]}: {m.error}")
                        errs.setdefault(m.index, m.error)
                        log.debug("%s: %s", files[m.index], m.error)
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        out = []
        for i, path in enumerate(files):
            if i in errs:
                out.append(TagResult(str(path), error=errs[i]))
                continue
            p = aggregate(np.stack(probs[i]), np.zeros(len(probs[i]), dtype=np.int64), 1, self.aggregate)[0]
            out.append(TagResult(str(path), self.top_tags(p, top_k), round(ends[i], 3), len(probs[i]), p))
        return out

    def top_tags(self, probabilities: np.ndarray, top_k: int = 5) -> list[Tag]:
        order = np.argsort(-probabilities, kind="stable")[: max(int(top_k), 0)]
        return [Tag(self.labels[i], int(i), float(probabilities[i])) for i in order]
