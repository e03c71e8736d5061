"""A drop-in for scripts written against the ``panns_inference`` package (Kong et al.,
https://github.com/qiuqiangkong/panns_inference): change one import line::

    # from panns_inference import AudioTagging, SoundEventDetection, labels
    from audiocnn.compat.panns_inference import AudioTagging, SoundEventDetection, labels

    at = AudioTagging(checkpoint_path="Cnn14_mAP=0.431.pth", device="cpu")
    clipwise_output, embedding = at.inference(audio)     # (batch, 527), (batch, 2048) numpy
    sed = SoundEventDetection(checkpoint_path="Cnn14_DecisionLevelMax.pth", device="cpu")
    framewise_output = sed.inference(audio)              # (batch, frames, 527) numpy

``audio`` is ``(batch, samples)`` (or ``(samples,)``) at the model's rate (32 kHz for the
official PANNs checkpoints), as for ``panns_inference``. Both classes run on
:class:`audiocnn.Tagger` / :class:`~audiocnn.inference.sed.SoundEventDetector`, so any
checkpoint audiocnn reads works (an official PANNs file, or a checkpoint / model folder written
by ``audiocnn train``), with the CPU fast paths (``precision="bf16"`` or ``"int8"``).

Differences from ``panns_inference``
    - Nothing is downloaded, ever. Without ``checkpoint_path`` the file is looked for where
      ``panns_inference`` keeps it (``~/panns_data/Cnn14_mAP=0.431.pth``,
      ``~/panns_data/Cnn14_DecisionLevelMax.pth``); when it is not there a
      ``FileNotFoundError`` says so.
    - Class names: ``labels_path=`` (a ``class_labels_indices.csv``-style file or one name per
      line), else the checkpoint's own (a trained model's bundle). The module attribute
      ``labels`` is read, on first use, from ``$AUDIOCNN_PANNS_LABELS`` or
      ``~/panns_data/class_labels_indices.csv``; importing this module reads no file.
    - ``device``: inference runs on the CPU; another device gives a warning.
    - ``AudioTagging.inference`` scores inputs longer than the model's clip (10 s for PANNs)
      as :class:`audiocnn.Tagger` does: windows of the clip, probabilities and embeddings
      averaged over them (``panns_inference`` pools the whole input in one pass). Inputs up to
      one clip long give the same numbers.
    - ``SoundEventDetection.inference`` gives ``(batch, frames, classes)`` with
      ``frames = 1 + samples // hop`` for frame-level models (100 frames/s for PANNs), long
      inputs processed in chunks that stitch to a single pass; a clip-level model gives one
      frame per sliding window (see :mod:`audiocnn.inference.sed`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audiocnn.inference.labels import read_labels
from audiocnn.inference.sed import SoundEventDetector
from audiocnn.inference.tagger import Tagger, waveform_rows
from audiocnn.models import AudioModel

__all__ = ["LABELS_ENV", "AudioTagging", "SoundEventDetection", "default_labels_path"]


PANNS_DATA = Path("~/panns_data")
LABELS_ENV = "AUDIOCNN_PANNS_LABELS"
"""Environment variable naming the class-labels CSV that the module attribute ``labels`` reads."""
_TAGGING_CHECKPOINT = "Cnn14_mAP=0.431.pth"
_SED_CHECKPOINT = "Cnn14_DecisionLevelMax.pth"


def default_labels_path() -> Path:
    """The class-labels CSV behind the module attribute ``labels``: ``$AUDIOCNN_PANNS_LABELS``,
    else ``~/panns_data/class_labels_indices.csv`` (where ``panns_inference`` keeps it)."""
    env = os.environ.get(LABELS_ENV)
    return Path(env).expanduser() if env else (PANNS_DATA / "class_labels_indices.csv").expanduser()


def __getattr__(name: str) -> Any:
    # ``labels`` is read when first asked for, not at import (PEP 562)
    if name == "labels":
        path = default_labels_path()
        if not path.exists():
            raise FileNotFoundError(
                f"audiocnn.compat.panns_inference.labels: {path} does not exist (audiocnn downloads nothing); "
                f"set {LABELS_ENV} to a class_labels_indices.csv, or pass labels_path= and use the instance's .labels"
            )
        names = read_labels(path)
        globals()["labels"] = names
        return names
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _checkpoint(checkpoint_path: str | os.PathLike | None, model: Any, default_file: str) -> str | os.PathLike | None:
    """The checkpoint to open: the given one, or (no model given either) the file
    ``panns_inference`` would have downloaded, if it is there."""
    if checkpoint_path or model is not None:
        return checkpoint_path or None
    path = (PANNS_DATA / default_file).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"checkpoint_path: none given and {path} does not exist; audiocnn downloads nothing: "
            f"pass checkpoint_path= (an official PANNs .pth or a checkpoint written by audiocnn train)"
        )
    return path


def _check_device(device: str | None) -> None:
    if device is not None and str(device) != "cpu":
        warnings.warn(f"device={device!r}: audiocnn's inference runs on the CPU", stacklevel=3)


class AudioTagging:
    """``panns_inference.AudioTagging``: clip-level probabilities and embeddings.

    Args:
        model: a registry name (``"cnn14"``) or an :class:`~audiocnn.models.AudioModel`; default:
            the one the checkpoint names (its bundle, or its file name for official PANNs files).
        checkpoint_path: an official PANNs ``.pth``, or a checkpoint / model folder written by
            ``audiocnn train``.
        device: ``"cpu"`` (another device: a warning, and the CPU).
        labels_path: class names: a ``class_labels_indices.csv``-style file, one name per line,
            or a list; default: the checkpoint's.
        **options: passed to :class:`audiocnn.Tagger` (``precision``, ``batch_size``, ...).
    """

    def __init__(
        self,
        model: str | AudioModel | None = None,
        checkpoint_path: str | os.PathLike | None = None,
        device: str | None = "cpu",
        labels_path: str | os.PathLike | Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        _check_device(device)
        checkpoint = _checkpoint(checkpoint_path, model, _TAGGING_CHECKPOINT)
        self.tagger = Tagger(model, checkpoint=checkpoint, labels=labels_path, **options)
        self.model = self.tagger.model
        self.labels: list[str] = list(self.tagger.labels)
        self.classes_num = len(self.labels)
        self.sample_rate = int(self.tagger.sample_rate)

    def inference(self, audio: Any) -> tuple[np.ndarray, np.ndarray]:
        """``audio`` ``(batch, samples)`` at :attr:`sample_rate` -> ``(clipwise_output (batch,
        classes), embedding (batch, dim))`` float32 numpy arrays (probabilities: sigmoid for
        multi-label models such as PANNs, softmax for single-label ones)."""
        probs, emb = self.tagger.predict_proba_and_embedding(audio)
        return probs.astype(np.float32), emb.astype(np.float32)


class SoundEventDetection:
    """``panns_inference.SoundEventDetection``: frame-wise probabilities.

    Args:
        model / checkpoint_path / device / labels_path: as :class:`AudioTagging` (default file
            ``~/panns_data/Cnn14_DecisionLevelMax.pth``).
        interpolate_mode: ``"nearest"`` only (what PANNs does: each pooled frame repeated).
        **options: passed to :class:`~audiocnn.inference.sed.SoundEventDetector`.
    """

    def __init__(
        self,
        model: str | AudioModel | None = None,
        checkpoint_path: str | os.PathLike | None = None,
        device: str | None = "cpu",
        interpolate_mode: str = "nearest",
        labels_path: str | os.PathLike | Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        if interpolate_mode != "nearest":
            raise ValueError(f"interpolate_mode: only 'nearest' (the PANNs frame upsampling) is offered, got {interpolate_mode!r}")
        _check_device(device)
        checkpoint = _checkpoint(checkpoint_path, model, _SED_CHECKPOINT)
        self.detector = SoundEventDetector(model, checkpoint=checkpoint, labels=labels_path, keep_frames=True, **options)
        self.labels: list[str] = list(self.detector.labels)
        self.classes_num = len(self.labels)
        self.sample_rate = int(self.detector.sample_rate)

    def inference(self, audio: Any) -> np.ndarray:
        """``audio`` ``(batch, samples)`` at :attr:`sample_rate` -> ``framewise_output``
        ``(batch, frames, classes)`` float32 numpy (rows of different lengths are not possible in a
        ``(batch, samples)`` array, so every row has the same number of frames)."""
        rows = waveform_rows(audio)
        frames = [self.detector.frame_probabilities(x) for x in rows]
        return np.stack(frames).astype(np.float32)
