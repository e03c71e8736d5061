"""The model bundle: everything a consumer needs to use a model, as one typed, versioned object.

A checkpoint written by ``audiocnn train`` and a folder written by :func:`save_pretrained` carry a
:class:`ModelBundle`: the registry name and architecture arguments, the labels, the task
(single-label or multi-label, which decides the output activation), the sample rate, the
windowing (clip length, hop, padding, aggregation), the input normalisation and the audiocnn
version. ``evaluate``, ``tag``, ``sed``, ``embed``, ``export``, ``explain``, HEAR, serving and the
Python API all read it, so ``--checkpoint X`` alone is enough everywhere.

Official PANNs checkpoints carry no bundle: :meth:`ModelBundle.for_model` describes such a model
from its registry entry (multi-label, 10-s windows, short inputs processed whole, as the original
code does).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import torch

from audiocnn.audio.windows import Windowing

__all__ = [
    "BUNDLE_FORMAT",
    "INIT_KWARGS",
    "TASKS",
    "BundleError",
    "ModelBundle",
    "activation_for_task",
    "apply_activation",
    "generic_labels",
]

log = logging.getLogger(__name__)

BUNDLE_FORMAT = 1
TASKS = ("single-label", "multi-label")

# the clip length PANNs models were trained on; their default window for long inputs
PANNS_CLIP_SECONDS = 10.0

# model arguments that choose initial weights, not the architecture: never part of a bundle
INIT_KWARGS = ("init", "imagenet_weights", "pretrained")


class BundleError(ValueError):
    """A bundle is missing, of an unknown format version, or malformed; the message says which."""


def activation_for_task(task: str) -> str:
    """``"softmax"`` for a single-label classifier, ``"sigmoid"`` for multi-label tagging."""
    if task not in TASKS:
        raise BundleError(f"task must be one of {TASKS}, got {task!r}")
    return "softmax" if task == "single-label" else "sigmoid"


@overload
def apply_activation(logits: torch.Tensor, activation: str) -> torch.Tensor: ...
@overload
def apply_activation(logits: np.ndarray, activation: str) -> np.ndarray: ...
def apply_activation(logits: torch.Tensor | np.ndarray, activation: str) -> torch.Tensor | np.ndarray:
    """Probabilities from logits (last axis = classes): ``"softmax"`` or ``"sigmoid"``.

    Accepts a numpy array (float32 result) or a tensor (tensor result)."""
    if activation not in ("softmax", "sigmoid"):
        raise ValueError(f"activation must be 'softmax' or 'sigmoid', got {activation!r}")
    if isinstance(logits, torch.Tensor):
        t = logits.float()
        return torch.softmax(t, dim=-1) if activation == "softmax" else torch.sigmoid(t)
    x = np.asarray(logits, dtype=np.float64)
    if activation == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def _normalization_of(model: Any) -> dict:
    """The input normalisation a model applies (read off the model, for the bundle)."""
    out = {"waveform": "mono float32 in [-1, 1]"}
    for attr in ("level_norm", "channel_norm", "lifter"):
        if hasattr(model, attr):
            out[attr] = getattr(model, attr)
    return out


@dataclass(frozen=True)
class ModelBundle:
    """What a trained model is and how to feed it.

    Attributes:
        model: registry name (``audiocnn models``).
        model_args: architecture arguments given to ``create_model``.
        num_classes: outputs of the classifier.
        labels: class names, one per output.
        task: ``"single-label"`` (softmax) or ``"multi-label"`` (sigmoid).
        sample_rate: input rate, Hz.
        windowing: how inputs are cut into windows and the window outputs combined.
        normalization: the input normalisation (waveform scale, per-clip normalisations).
        audiocnn_version: the version that wrote the bundle.
        format_version: version of this bundle format.
        training: provenance (training configuration, fold, selected epoch); not needed to use
            the model.
    """

    model: str
    num_classes: int
    labels: tuple[str, ...]
    task: str
    sample_rate: int
    windowing: Windowing
    model_args: dict = field(default_factory=dict)
    normalization: dict = field(default_factory=dict)
    audiocnn_version: str = ""
    format_version: int = BUNDLE_FORMAT
    training: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        activation_for_task(self.task)
        if len(self.labels) != self.num_classes:
            raise BundleError(f"bundle of {self.model}: {len(self.labels)} labels for {self.num_classes} outputs")
        if int(self.sample_rate) <= 0:
            raise BundleError(f"bundle of {self.model}: sample rate must be > 0, got {self.sample_rate}")

    @property
    def activation(self) -> str:
        return activation_for_task(self.task)

    @property
    def multilabel(self) -> bool:
        return self.task == "multi-label"

    @overload
    def probabilities(self, logits: torch.Tensor) -> torch.Tensor: ...
    @overload
    def probabilities(self, logits: np.ndarray) -> np.ndarray: ...
    def probabilities(self, logits: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """Class probabilities from this model's logits (softmax or sigmoid by the task), as
        :func:`apply_activation`: a tensor for a tensor, float32 numpy for numpy."""
        return apply_activation(logits, self.activation)

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["labels"] = list(self.labels)
        d["windowing"] = self.windowing.to_dict()
        return {"bundle_format": self.format_version, **{k: v for k, v in d.items() if k != "format_version"}}

    @classmethod
    def from_dict(cls, d: dict, source: str = "bundle") -> ModelBundle:
        version = d.get("bundle_format")
        if version != BUNDLE_FORMAT:
            raise BundleError(
                f"{source}: bundle format {version!r} is not supported by this audiocnn (reads format {BUNDLE_FORMAT}); "
                "upgrade audiocnn or re-export the model"
            )
        try:
            return cls(
                model=str(d["model"]),
                num_classes=int(d["num_classes"]),
                labels=tuple(str(x) for x in d["labels"]),
                task=str(d["task"]),
                sample_rate=int(d["sample_rate"]),
                windowing=Windowing.from_dict(d["windowing"]),
                model_args=dict(d.get("model_args") or {}),
                normalization=dict(d.get("normalization") or {}),
                audiocnn_version=str(d.get("audiocnn_version", "")),
                training=dict(d.get("training") or {}),
            )
        except KeyError as e:
            raise BundleError(f"{source}: bundle has no {e.args[0]!r} entry") from None
        except (TypeError, ValueError) as e:
            raise BundleError(f"{source}: malformed bundle ({e})") from None

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def for_model(
        cls,
        model: Any,
        *,
        labels: Sequence[str] | None = None,
        task: str = "multi-label",
        clip_seconds: float | None = None,
        hop_seconds: float | None = None,
        pad_short: bool | None = None,
        aggregate: str = "mean",
        model_args: dict | None = None,
        training: dict | None = None,
    ) -> ModelBundle:
        """Describe ``model`` (an :class:`~audiocnn.models.AudioModel`).

        Defaults are those of a PANNs checkpoint: multi-label, 10-s windows with no overlap,
        inputs shorter than a window processed whole; ``class_0, class_1, ...`` without labels.
        A model trained by audiocnn is described with its clip length, half-clip hop and padding.
        """
        from audiocnn import __version__

        n = int(model.num_classes)
        labels = tuple(str(x) for x in labels) if labels is not None else tuple(f"class_{i}" for i in range(n))
        clip = float(clip_seconds) if clip_seconds else PANNS_CLIP_SECONDS
        windowing = Windowing(
            clip_seconds=clip,
            hop_seconds=hop_seconds,
            pad_short=bool(pad_short) if pad_short is not None else clip_seconds is not None,
            aggregate=aggregate,
        )
        return cls(
            model=model.info.name,
            num_classes=n,
            labels=labels,
            task=task,
            sample_rate=int(model.sample_rate),
            windowing=windowing,
            model_args=dict(model_args or {}),
            normalization=_normalization_of(model),
            audiocnn_version=__version__,
            training=dict(training or {}),
        )

    @classmethod
    def from_checkpoint_metadata(cls, meta: dict, source: str = "checkpoint") -> ModelBundle | None:
        """The bundle stored in a checkpoint's ``audiocnn`` metadata: the current format, or the
        metadata written by audiocnn 0.1 checkpoints (``name``, ``labels``, ``multilabel``,
        ``clip_seconds``, ``config``), converted. ``None`` when the metadata holds no model name
        (an official PANNs file)."""
        if not meta:
            return None
        if "bundle_format" in meta:
            return cls.from_dict(meta, source)
        name = meta.get("name")
        if not name or not meta.get("num_classes"):
            return None
        n = int(meta["num_classes"])
        labels = meta.get("labels") or [f"class_{i}" for i in range(n)]
        config = meta.get("config") or {}
        multilabel = meta.get("multilabel", meta.get("multi_label"))
        task = "single-label" if multilabel is False else "multi-label"
        clip = meta.get("clip_seconds")
        return cls(
            model=str(name),
            num_classes=n,
            labels=tuple(str(x) for x in labels),
            task=task,
            sample_rate=int(meta.get("sample_rate") or 0) or 1,
            windowing=Windowing(
                clip_seconds=float(clip) if clip else PANNS_CLIP_SECONDS,
                hop_seconds=float(clip) / 2 if clip else None,
                pad_short=bool(clip),
            ),
            model_args={k: v for k, v in (config.get("model_kwargs") or {}).items() if k not in INIT_KWARGS},
            audiocnn_version=str(meta.get("audiocnn_version", "0.1.0")),
            training={k: meta[k] for k in ("config", "fold", "best_epoch") if k in meta},
        )

    def replace(self, **changes: Any) -> ModelBundle:
        return dataclasses.replace(self, **changes)

    def with_overrides(self, source: str = "the checkpoint", **flags: Any) -> ModelBundle:
        """This bundle with the explicitly given settings (``None`` = not given) in place of its
        own. A setting that contradicts a bundle written by training (one with ``training``
        provenance) wins, with a warning naming both values; the defaults of an untrained or
        official model are replaced silently.

        Settings: ``clip_seconds``, ``hop_seconds``, ``aggregate``, ``pad_short``, ``labels``,
        ``task`` (or ``activation``: ``"softmax"``/``"sigmoid"``)."""
        bundle = self
        warn = bool(self.training)
        w = self.windowing
        win_changes = {}
        for key in ("clip_seconds", "hop_seconds", "aggregate", "pad_short"):
            value = flags.pop(key, None)
            if value is not None and value != getattr(w, key):
                if warn:
                    _contradiction(key, getattr(w, key), value, source)
                win_changes[key] = value
        if "clip_seconds" in win_changes and "hop_seconds" not in win_changes and w.hop_seconds is not None:
            win_changes["hop_seconds"] = min(w.hop_seconds / w.clip_seconds * win_changes["clip_seconds"], win_changes["clip_seconds"])
        if win_changes:
            bundle = bundle.replace(windowing=dataclasses.replace(w, **win_changes))
        activation = flags.pop("activation", None)
        task = flags.pop("task", None)
        if activation is not None:
            task = "single-label" if activation == "softmax" else "multi-label"
        if task is not None and task != bundle.task:
            if warn:
                _contradiction("task", bundle.task, task, source)
            bundle = bundle.replace(task=task)
        labels = flags.pop("labels", None)
        if labels is not None:
            labels = tuple(str(x) for x in labels)
            if len(labels) != bundle.num_classes:
                raise ValueError(f"{len(labels)} labels given but the model has {bundle.num_classes} outputs")
            if warn and labels != bundle.labels and not generic_labels(bundle.labels):
                _contradiction("labels", _short(bundle.labels), _short(labels), source)
            bundle = bundle.replace(labels=labels)
        if flags:
            raise TypeError(f"unknown bundle setting(s): {', '.join(sorted(flags))}")
        return bundle


def generic_labels(labels: Sequence[str]) -> bool:
    """True for the placeholder names ``class_0, class_1, ...`` of a model without labels."""
    return all(re.fullmatch(r"class_\d+", x) for x in labels)


def _short(labels: Sequence[str]) -> str:
    return ", ".join(labels[:3]) + (", ..." if len(labels) > 3 else "")


def _contradiction(key: str, stored: object, given: object, source: str) -> None:
    warnings.warn(f"{key}={given!r} overrides {stored!r} stored in {source}", UserWarning, stacklevel=4)
