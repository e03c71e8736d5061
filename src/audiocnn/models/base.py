"""The interface every audiocnn model follows.

A model takes a mono waveform ``(batch, samples)`` at ``model.sample_rate`` and returns a dict:

- ``"logits"`` ``(batch, classes)``: clip-level scores before any sigmoid/softmax;
- ``"embedding"`` ``(batch, model.embedding_dim)``: the pre-logits clip representation;
- ``"framewise_logits"`` ``(batch, frames, classes)``: for frame-level models only, at the
  front-end's frame rate (``model.info.frame_rate`` frames per second).

``forward_features`` returns the pooled pre-logits features; ``forward_head`` maps them to
logits. The classifier is the sub-module named by ``info.classifier`` so that freezing the
backbone, resetting the head for another class count and loading checkpoints are generic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AudioModel", "ModelInfo", "init_bn", "init_layer", "max_pool1d"]


@dataclass(frozen=True)
class ModelInfo:
    """What callers need to know about a model without reading its code.

    Attributes:
        name: registry name.
        input: ``"log-mel"``, ``"waveform"``, ``"both"`` (waveform + log-mel branches) or
            ``"multi-res mel"``.
        sample_rate: expected input rate in Hz.
        frame_level: emits ``framewise_logits``.
        classifier: attribute path of the classification head (checkpoint prefix).
        frame_rate: frames per second of ``framewise_logits`` (0 if not frame-level).
        min_samples: shortest input the network accepts; shorter inputs must be padded.
        gradcam_layer: attribute path of the last convolutional layer (for Grad-CAM).
        checkpoint_class: the class name of the original code whose checkpoints load here.
        ignored_checkpoint_keys: checkpoint keys that the original model stores but never
            uses; they are accepted and dropped when loading.
        embedding_dim: size of ``"embedding"``.
        reference: paper or source of the architecture.
    """

    name: str
    input: str
    sample_rate: int
    frame_level: bool = False
    classifier: str = "fc_audioset"
    frame_rate: float = 0.0
    min_samples: int = 0
    gradcam_layer: str | None = None
    checkpoint_class: str | None = None
    ignored_checkpoint_keys: tuple[str, ...] = field(default_factory=tuple)
    embedding_dim: int = 0
    reference: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def init_layer(layer: nn.Module) -> None:
    """Xavier-uniform weights and zero bias (the PANNs initialisation)."""
    nn.init.xavier_uniform_(cast(torch.Tensor, layer.weight))
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(cast(torch.Tensor, layer.bias))


def max_pool1d(x: torch.Tensor, kernel_size: int, stride: int | None = None, padding: int = 0, ceil_mode: bool = False) -> torch.Tensor:
    """``F.max_pool1d`` on ``(batch, channels, time)``, computed as a 2-D pooling over a height of
    1 (the same values): ``torch.export`` freezes the length of ``F.max_pool1d``'s input at the
    example's, but keeps ``max_pool2d``'s symbolic, so exported models follow the input length."""
    stride = kernel_size if stride is None else stride
    y = F.max_pool2d(x[:, :, None, :], (1, kernel_size), (1, stride), (0, padding), ceil_mode=ceil_mode)
    return y[:, :, 0, :]


def init_bn(bn: nn.Module) -> None:
    nn.init.ones_(cast(torch.Tensor, bn.weight))
    nn.init.zeros_(cast(torch.Tensor, bn.bias))


class AudioModel(nn.Module):
    """Base class: a waveform-to-dict network with a named classifier head."""

    info: ModelInfo

    @property
    def sample_rate(self) -> int:
        return self.info.sample_rate

    @property
    def num_classes(self) -> int:
        return int(cast(torch.Tensor, self.get_classifier().weight).shape[0])

    @property
    def embedding_dim(self) -> int:
        return self.info.embedding_dim

    # -- head --------------------------------------------------------------------------------
    def get_classifier(self) -> nn.Module:
        return self.get_submodule(self.info.classifier)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head with a freshly initialised one for ``num_classes`` classes."""
        old = self.get_classifier()
        new: nn.Module
        if isinstance(old, nn.Linear):
            new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
        elif isinstance(old, nn.Conv1d):
            padding = old.padding if isinstance(old.padding, str) else old.padding[0]
            new = nn.Conv1d(old.in_channels, num_classes, old.kernel_size[0], old.stride[0], padding, bias=old.bias is not None)
        else:  # pragma: no cover - families with composite heads override this
            raise NotImplementedError(f"{type(self).__name__} must override reset_classifier")
        init_layer(new)
        new.to(old.weight.device, old.weight.dtype)
        parent_name, _, attr = self.info.classifier.rpartition(".")
        parent = self.get_submodule(parent_name) if parent_name else self
        setattr(parent, attr, new)

    def classifier_parameter_names(self) -> list[str]:
        prefix = self.info.classifier + "."
        return [n for n, _ in self.named_parameters() if n.startswith(prefix)]

    def freeze_backbone(self) -> None:
        """Stop gradients everywhere but the head (the ``linear`` transfer mode)."""
        head = set(self.classifier_parameter_names())
        for n, p in self.named_parameters():
            p.requires_grad_(n in head)

    # -- forward -----------------------------------------------------------------------------
    def check_input(self, waveform: torch.Tensor) -> torch.Tensor:
        if waveform.dim() == 1:
            raise ValueError(
                f"{self.info.name} expects a (batch, samples) waveform, got shape {tuple(waveform.shape)}; "
                "use waveform[None] for a single clip"
            )
        if waveform.dim() != 2:
            raise ValueError(f"{self.info.name} expects a (batch, samples) waveform, got shape {tuple(waveform.shape)}")
        if waveform.shape[1] < self.info.min_samples:
            raise ValueError(
                f"{self.info.name} needs at least {self.info.min_samples} samples "
                f"({self.info.min_samples / self.sample_rate:.3f} s at {self.sample_rate} Hz), got {waveform.shape[1]}"
            )
        return waveform
