"""Building torchvision's ImageNet backbones by name and loading torchvision's published weight
files into them (names converted, every mismatch listed)."""

from __future__ import annotations

import os
import re

import torch
from torch import nn

from audiocnn.models._checkpoint import CheckpointError, read_checkpoint
from audiocnn.models.imagenet_backbones import (
    BasicBlock,
    Bottleneck,
    DenseNet,
    Inception3,
    ResNet,
)

__all__ = [
    "TORCHVISION_ARCHS",
    "TORCHVISION_FILES",
    "convert_torchvision_state_dict",
    "load_torchvision_weights",
    "torchvision_backbone",
]


TORCHVISION_ARCHS = {
    "resnet18": (ResNet, dict(block=BasicBlock, layers=(2, 2, 2, 2))),
    "resnet34": (ResNet, dict(block=BasicBlock, layers=(3, 4, 6, 3))),
    "resnet50": (ResNet, dict(block=Bottleneck, layers=(3, 4, 6, 3))),
    "resnet101": (ResNet, dict(block=Bottleneck, layers=(3, 4, 23, 3))),
    "densenet121": (DenseNet, dict(growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64)),
    "densenet161": (DenseNet, dict(growth_rate=48, block_config=(6, 12, 36, 24), num_init_features=96)),
    "densenet169": (DenseNet, dict(growth_rate=32, block_config=(6, 12, 32, 32), num_init_features=64)),
    "densenet201": (DenseNet, dict(growth_rate=32, block_config=(6, 12, 48, 32), num_init_features=64)),
    "inception_v3": (Inception3, dict()),
}

# torchvision's published file names, for messages.
TORCHVISION_FILES = {
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-0676ba61.pth",
    "resnet101": "resnet101-63fe2227.pth",
    "densenet121": "densenet121-a639ec97.pth",
    "densenet161": "densenet161-8d451a50.pth",
    "densenet169": "densenet169-b2777c0a.pth",
    "densenet201": "densenet201-c1103571.pth",
    "inception_v3": "inception_v3_google-0cc3c7bd.pth",
}


def torchvision_backbone(arch: str, num_classes: int = 1000, **kwargs) -> nn.Module:
    """The backbone named as in torchvision (``"resnet50"``, ``"densenet201"``, ``"inception_v3"`` ...),
    randomly initialised. ``kwargs`` go to the class (e.g. ``aux_logits=False`` for Inception)."""
    try:
        cls, cfg = TORCHVISION_ARCHS[arch]
    except KeyError:
        raise ValueError(f"unknown torchvision architecture {arch!r}; known: {', '.join(TORCHVISION_ARCHS)}") from None
    return cls(num_classes=num_classes, **cfg, **kwargs)


# Old DenseNet files name the layers of a dense layer 'norm.1', 'conv.1', 'norm.2', 'conv.2'.
_OLD_DENSENET_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12])\.(weight|bias|running_mean|running_var|num_batches_tracked)$")


def convert_torchvision_state_dict(sd: dict[str, torch.Tensor], backbone: nn.Module) -> dict[str, torch.Tensor]:
    """Map a torchvision weight file's state dict onto ``backbone``'s names.

    - DenseNet: ``...denselayerN.norm.1.weight`` -> ``...denselayerN.norm1.weight`` (old files);
    - Inception-v3: ``AuxLogits.*`` dropped when the backbone has no auxiliary head;
    - ``num_batches_tracked`` (absent from files saved before PyTorch 0.4.1) filled from the
      backbone, where the file has the rest of that batch norm.
    """
    out: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        m = _OLD_DENSENET_KEY.match(k)
        if m:
            k = f"{m.group(1)}{m.group(2)}.{m.group(3)}"
        out[k] = v
    if getattr(backbone, "AuxLogits", "absent") is None:
        out = {k: v for k, v in out.items() if not k.startswith("AuxLogits.")}
    own = backbone.state_dict()
    for k, v in own.items():
        if k.endswith(".num_batches_tracked") and k not in out and k.replace("num_batches_tracked", "running_mean") in out:
            out[k] = v.clone()
    return out


def load_torchvision_weights(backbone: nn.Module, weights: str | os.PathLike | dict) -> list[str]:
    """Load a torchvision ImageNet weight file (or its state dict) into ``backbone``.

    The file is read with ``torch.load(weights_only=True)``. Names are converted by
    :func:`convert_torchvision_state_dict`. When only the classifier's shape differs (the
    backbone was built for another class count), the classifier keeps its fresh initialisation;
    the skipped keys are returned. Any other missing, unexpected or misshapen key raises
    :class:`~audiocnn.models.CheckpointError` listing all of them.
    """
    source = "state dict"
    if not isinstance(weights, dict):
        source = str(weights)
        weights, _ = read_checkpoint(weights)
    sd = convert_torchvision_state_dict(weights, backbone)
    own = backbone.state_dict()
    heads = (backbone.classifier_name + ".", "AuxLogits.fc.")
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    misshapen = [k for k in own if k in sd and tuple(own[k].shape) != tuple(sd[k].shape)]
    skipped = [k for k in misshapen if k.startswith(heads)]
    misshapen = [k for k in misshapen if k not in skipped]
    problems = [f"missing key {k} {tuple(own[k].shape)}" for k in missing]
    problems += [f"unexpected key {k} {tuple(sd[k].shape)}" for k in unexpected]
    problems += [f"key {k}: expected {tuple(own[k].shape)}, got {tuple(sd[k].shape)}" for k in misshapen]
    if problems:
        raise CheckpointError(
            f"{source} does not fit {type(backbone).__name__} ({len(problems)} problem(s)):\n  " + "\n  ".join(problems)
        )
    for k in skipped:
        sd[k] = own[k]
    backbone.load_state_dict(sd, strict=True)
    return skipped
