"""ImageNet CNNs on a 3-channel multi-resolution log-mel (Palanisamy et al. 2020).

"Rethinking CNN models for audio classification" (Palanisamy, Singhania, Yao; arXiv 2007.11154)
uses standard torchvision image networks unchanged on spectrograms: the input image is
:class:`~audiocnn.features.multires.MultiResolutionMel` (three log-mels of 25/50/100-ms windows as
the three colour channels, 128 x 250 for a 5-s clip), the classifier is replaced by a new linear
layer for the task's classes, and the network is initialised either randomly or from the ImageNet
weights. The study's models were DenseNet-201, ResNet-50 and Inception-v3; we register
ResNet-18/34/50/101, DenseNet-121/161/169/201 and Inception-v3.

Every model is an :class:`~audiocnn.models.base.AudioModel`: ``model.frontend`` (waveform ->
``(batch, 3, 128, frames)``) then ``model.backbone`` (the torchvision-compatible image network of
:mod:`audiocnn.models.imagenet_backbones`, including its classifier). Initialisation::

    create_model("imagenet_densenet201", num_classes=50)                     # random (torchvision scheme)
    create_model("imagenet_densenet201", num_classes=50,
                 imagenet_weights="densenet201-c1103571.pth")                # ImageNet, new 50-class head
    create_model("imagenet_densenet201", num_classes=50, init="imagenet")   # error: no file given

audiocnn never downloads weights: torchvision's files must be fetched separately and passed by
path. Their 1000-class head is kept when ``num_classes=1000``. For Inception-v3 the loaded model
also switches on torchvision's ``transform_input``, as torchvision does for these weights, and the
auxiliary classifier is dropped (as in the study) unless ``aux_logits=True``.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from audiocnn.features.multires import MultiResolutionMel
from audiocnn.models._registry import register_model
from audiocnn.models.base import AudioModel, ModelInfo
from audiocnn.models.imagenet_backbones import BasicBlock, ResNet
from audiocnn.models.torchvision_weights import (
    TORCHVISION_FILES,
    load_torchvision_weights,
    torchvision_backbone,
)

__all__ = ["ImageNetAudioModel", "build_imagenet_model", "calibrate_batchnorm"]

_REF = "Palanisamy et al. 2020, Rethinking CNN models for audio classification (arXiv 2007.11154)"
DEFAULT_SAMPLE_RATE = 22050


class ImageNetAudioModel(AudioModel):
    """Multi-resolution log-mel front-end + an image backbone whose classifier is the head.

    Args:
        info: the registry entry (name, reference); the rest is filled in here.
        backbone: a network of :mod:`audiocnn.models.imagenet_backbones` (or any module with
            ``forward_features``, ``forward_head``, ``reset_classifier``, ``classifier_name``,
            ``gradcam_layer``, ``num_features`` and ``min_size``).
        sample_rate: input rate in Hz (22,050 by default; the study used 44,100 for ESC-50).
        normalize: ImageNet mean/std normalisation of the image (see the front-end).
    """

    def __init__(self, info: ModelInfo, backbone: nn.Module, sample_rate: int = DEFAULT_SAMPLE_RATE, normalize: bool = False):
        super().__init__()
        self.frontend = MultiResolutionMel(sample_rate, normalize=normalize)
        self.backbone = backbone
        self.info = ModelInfo(
            **{
                **info.to_dict(),
                "input": "multi-res mel",
                "sample_rate": sample_rate,
                "frame_level": False,
                "classifier": f"backbone.{backbone.classifier_name}",
                "min_samples": self._min_samples(backbone.min_size),
                "gradcam_layer": f"backbone.{backbone.gradcam_layer}",
                "embedding_dim": backbone.num_features,
                "reference": info.reference or _REF,
            }
        )

    def _min_samples(self, min_frames: int) -> int:
        fe = self.frontend
        n = max(fe.min_samples, int((min_frames - 0.5) * fe.sample_rate / fe.frames_per_second) - 2)
        while fe.num_frames(n) < min_frames:
            n += 1
        return n

    def reset_classifier(self, num_classes: int) -> None:
        self.backbone.reset_classifier(num_classes)

    def forward_frontend(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` -> the backbone's input image ``(batch, 3, 128, frames)``."""
        return self.frontend(self.check_input(waveform))

    def forward_features(self, waveform: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features ``(batch, embedding_dim)``."""
        return self.backbone.forward_features(self.forward_frontend(waveform))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_head(features)

    def forward(self, waveform: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.forward_features(waveform)
        return {"logits": self.forward_head(features), "embedding": features}


def calibration_noise(batch: int, num_samples: int, sample_rate: int, seed: int = 0) -> torch.Tensor:
    """White noise at levels log-uniform between 1e-3 and 1 RMS, ``(batch, samples)``: the first
    half of the batch stationary, the second half with a level that jumps every 0.1 s.

    Varied levels give the batch norms realistic spreads to estimate (stationary noise alone
    would give tiny variances along time and blow up any other input)."""
    g = torch.Generator().manual_seed(seed)
    seg = max(1, sample_rate // 10)
    n_seg = -(-num_samples // seg)
    gains = 10.0 ** (-3.0 * torch.rand(batch, n_seg, generator=g))
    gains[: batch // 2] = gains[: batch // 2, :1]
    gains = gains.repeat_interleave(seg, dim=1)[:, :num_samples]
    return gains * torch.randn(batch, num_samples, generator=g)


def calibrate_batchnorm(model: ImageNetAudioModel, seconds: float = 1.0, batch: int = 8, seed: int = 0) -> None:
    """Set every batch norm's running statistics from one train-mode pass over :func:`calibration_noise`.

    A randomly initialised network has running means 0 and variances 1, so in eval mode (before
    any training) activations grow layer after layer: with torchvision's initialisation an
    untrained Inception-v3 has pooled features around 1e9 and ResNet-101 around 1e5, and float32
    round-off then makes outputs depend on the batch size. Estimating the statistics on noise
    keeps eval-mode activations near unit scale. Weights are untouched (they follow
    torchvision's scheme); training replaces these statistics within a few hundred steps
    (momentum 0.1) and ImageNet weights overwrite them. The global random state is left as it was.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or norms[0].running_var.device.type == "meta":  # shape-only model (cost counting)
        return
    was_training = model.training
    momenta = [m.momentum for m in norms]
    n = max(model.info.min_samples, int(seconds * model.sample_rate))
    p = next(model.parameters())
    noise = calibration_noise(batch, n, model.sample_rate, seed).to(p.device, p.dtype)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average: the statistics of this one pass
        model.train()(noise)
    for m, mom in zip(norms, momenta):
        m.momentum = mom
        m.num_batches_tracked.zero_()
    model.train(was_training)


def _resolve_init(name: str, arch: str, init: str | None, imagenet_weights) -> str:
    if init is None:
        return "imagenet" if imagenet_weights else "random"
    if init not in ("random", "imagenet"):
        raise ValueError(f"{name}: init must be 'random' or 'imagenet', got {init!r}")
    if init == "imagenet" and not imagenet_weights:
        raise ValueError(
            f"{name}: init='imagenet' needs torchvision's ImageNet weight file "
            f"(e.g. imagenet_weights='{TORCHVISION_FILES.get(arch, arch + '.pth')}', "
            "or --imagenet-weights FILE); audiocnn cannot download weights here (no network access): "
            "fetch the file elsewhere and pass its path"
        )
    if init == "random" and imagenet_weights:
        raise ValueError(f"{name}: init='random' contradicts imagenet_weights={str(imagenet_weights)!r}; drop one of them")
    return init


def build_imagenet_model(
    name: str,
    arch: str,
    num_classes: int = 527,
    init: str | None = None,
    imagenet_weights: str | os.PathLike | None = None,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    normalize: bool = False,
    calibrate_bn: bool = True,
    **backbone_kwargs,
) -> ImageNetAudioModel:
    """Build ``arch`` (a torchvision name) as an audio model; see the module docstring.

    ``calibrate_bn``: with random initialisation, estimate the batch-norm running statistics on
    noise (:func:`calibrate_batchnorm`) so that the untrained model is usable in eval mode.
    """
    init = _resolve_init(name, arch, init, imagenet_weights)
    if arch == "inception_v3":
        backbone_kwargs.setdefault("aux_logits", False)
        backbone_kwargs.setdefault("transform_input", init == "imagenet")
    backbone = torchvision_backbone(arch, num_classes=num_classes, **backbone_kwargs)
    if init == "imagenet":
        if not os.path.exists(imagenet_weights):
            raise FileNotFoundError(
                f"{imagenet_weights}: ImageNet weight file not found (audiocnn does not download weights; "
                f"torchvision's file for {arch} is {TORCHVISION_FILES.get(arch, '?')})"
            )
        load_torchvision_weights(backbone, imagenet_weights)
    info = ModelInfo(name=name, input="multi-res mel", sample_rate=sample_rate, checkpoint_class=f"torchvision.models.{arch}", reference=_REF)
    model = ImageNetAudioModel(info, backbone, sample_rate=sample_rate, normalize=normalize)
    if init == "random" and calibrate_bn:
        calibrate_batchnorm(model)
    model.init = init
    return model


def _builder(arch: str, doc: str):
    def build(num_classes: int = 527, **kwargs) -> ImageNetAudioModel:
        return build_imagenet_model(f"imagenet_{arch}", arch, num_classes=num_classes, **kwargs)

    build.__name__ = build.__qualname__ = f"imagenet_{arch}"
    build.__doc__ = doc
    return register_model(build)


imagenet_resnet18 = _builder("resnet18", "ResNet-18 (11.7 M parameters with a 1000-class head) on the multi-resolution log-mel.")
imagenet_resnet34 = _builder("resnet34", "ResNet-34 (21.8 M) on the multi-resolution log-mel.")
imagenet_resnet50 = _builder("resnet50", "ResNet-50 (25.6 M) on the multi-resolution log-mel; one of the study's models.")
imagenet_resnet101 = _builder("resnet101", "ResNet-101 (44.5 M) on the multi-resolution log-mel.")
imagenet_densenet121 = _builder("densenet121", "DenseNet-121 (8.0 M) on the multi-resolution log-mel.")
imagenet_densenet161 = _builder("densenet161", "DenseNet-161 (28.7 M) on the multi-resolution log-mel.")
imagenet_densenet169 = _builder("densenet169", "DenseNet-169 (14.1 M) on the multi-resolution log-mel.")
imagenet_densenet201 = _builder("densenet201", "DenseNet-201 (20.0 M) on the multi-resolution log-mel; the study's best model.")
imagenet_inception_v3 = _builder("inception_v3", "Inception-v3 (25.1 M without the auxiliary head) on the multi-resolution log-mel; one of the study's models.")


@register_model
def test_imagenet_resnet(
    num_classes: int = 527, init: str | None = None, imagenet_weights=None, sample_rate: int = 16000, normalize: bool = False, calibrate_bn: bool = True, **kwargs
) -> ImageNetAudioModel:
    """Test-size ResNet (one basic block per stage, 8-64 channels) on the multi-resolution log-mel."""
    init = _resolve_init("test_imagenet_resnet", "test_resnet", init, imagenet_weights)
    backbone = ResNet(BasicBlock, (1, 1, 1, 1), num_classes=num_classes, widths=kwargs.pop("widths", (8, 16, 32, 64)), **kwargs)
    if init == "imagenet":
        load_torchvision_weights(backbone, imagenet_weights)
    info = ModelInfo(name="test_imagenet_resnet", input="multi-res mel", sample_rate=sample_rate, reference=_REF)
    model = ImageNetAudioModel(info, backbone, sample_rate=sample_rate, normalize=normalize)
    if init == "random" and calibrate_bn:
        calibrate_batchnorm(model)
    model.init = init
    return model
