"""Saliency maps: which time-frequency regions of a clip drive a model's decision.

:func:`saliency` works for every registered model and returns a :class:`SaliencyMap` whose map
lies on the same (frequency x time) grid as the spectrogram it is shown over. Methods:

``"gradient"`` (Simonyan et al. 2014)
    ``|d logit_target / d input|``. The input is the model's own spectrogram for spectrogram
    models (the output of its front-end module, :class:`~audiocnn.features.LogMel` or
    :class:`~audiocnn.features.multires.MultiResolutionMel`, is hooked and made the leaf of the
    graph; for the 3-channel image the absolute gradients of the channels are summed). For models
    that read the waveform (``input`` ``"waveform"`` or ``"both"``) the gradient is taken with
    respect to the waveform and mapped to the time-frequency plane by the mel power spectrogram
    of the gradient signal, computed with the display spectrogram's own settings: by Parseval,
    ``<gradient, perturbation>`` splits over STFT cells, so the gradient's energy in a cell
    measures how much a perturbation in that cell changes the logit.
``"smoothgrad"`` (Smilkov et al. 2017)
    the gradient map averaged over ``samples`` copies of the input with Gaussian noise of
    ``noise_level`` x (max - min) of that input added (the spectrogram, or the waveform).
``"gradcam"`` (Selvaraju et al. 2017)
    on the layer named by ``model.info.gradcam_layer``: ReLU of the feature maps weighted by
    their spatially averaged gradients. The time axis of the map is found by running the model
    on a longer input (the axis whose size changes); for spectrogram models the other axis is
    the (downsampled) frequency axis and is interpolated to the mel bands; for waveform models
    it is a learned axis without a frequency meaning, so the map is averaged over it and spread
    over every frequency (a time-only map).

Display spectrogram: the model's own log-mel (for the multi-resolution image, its first,
25-ms channel), or for waveform-only models a 64-band log-mel (10-ms hop) of the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audiocnn.features.multires import MultiResolutionMel
from audiocnn.features.spectrogram import (
    LogMel,
    MelSpectrogram,
    hz_to_mel,
    mel_to_hz,
    stft_power,
)
from audiocnn.models.base import AudioModel
from audiocnn.models.bundle import ModelBundle, apply_activation

__all__ = ["METHODS", "SaliencyMap", "plot_saliency", "saliency"]

METHODS = ("gradient", "smoothgrad", "gradcam")


@dataclass
class SaliencyMap:
    """Arrays of one explained clip.

    Attributes:
        spectrogram: ``(freqs, frames)`` display spectrogram (log-mel; ``spectrogram_unit`` says which).
        saliency: ``(freqs, frames)`` non-negative, scaled to a maximum of 1 (all zeros if flat).
        times: ``(frames,)`` frame centres in seconds.
        freqs: ``(freqs,)`` band centres in Hz, increasing.
        predicted: index of the top class; ``probability`` its probability.
        target: the class the map explains (``predicted`` unless asked otherwise).
        target_probability: probability of ``target``.
        label / target_label: class names when known.
        method: ``"gradient"``, ``"smoothgrad"`` or ``"gradcam"``.
        activation: ``"softmax"`` or ``"sigmoid"`` (how probabilities were computed).
        input_kind: what the gradient was taken on: ``"spectrogram"`` or ``"waveform"``; for
            Grad-CAM ``"gradcam:<layer>"``.
    """

    spectrogram: np.ndarray
    saliency: np.ndarray
    times: np.ndarray
    freqs: np.ndarray
    predicted: int
    probability: float
    target: int
    target_probability: float
    method: str
    activation: str
    input_kind: str
    label: str | None = None
    target_label: str | None = None
    spectrogram_unit: str = "dB"
    sample_rate: int = 0
    extras: dict = field(default_factory=dict)

    def mass_in(self, t0: float, t1: float, f0: float, f1: float) -> float:
        """Fraction of the saliency mass inside ``[t0, t1] s x [f0, f1] Hz``."""
        total = float(self.saliency.sum())
        if total <= 0:
            return 0.0
        rows = (self.freqs >= f0) & (self.freqs <= f1)
        cols = (self.times >= t0) & (self.times <= t1)
        return float(self.saliency[np.ix_(rows, cols)].sum() / total)


# --------------------------------------------------------------------------------------------
# What the model looks at


def _spectrogram_frontend(model: nn.Module) -> tuple[str, nn.Module] | None:
    """The module whose output is the model's spectrogram (first mel extractor in module order)."""
    for name, m in model.named_modules():
        if isinstance(m, (MultiResolutionMel, MelSpectrogram)):
            return name, m
    return None


def _slaney_centres(f_min: float, f_max: float, n_mels: int) -> np.ndarray:
    m = np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2)
    return np.asarray(mel_to_hz(m))[1:-1]


class _Display:
    """Turns the hooked front-end output (or a waveform) into ``(freqs, frames)`` and gives the axes."""

    def __init__(self, model: AudioModel, num_samples: int):
        self.model = model
        found = _spectrogram_frontend(model)
        self.frontend_name, self.frontend = found if found else (None, None)
        sr = model.sample_rate
        self.num_samples = num_samples
        if isinstance(self.frontend, MultiResolutionMel):
            self.kind = "multires"
            self.mel = self.frontend
            self.times = self.frontend.frame_times(num_samples).numpy()
            self.freqs = self.frontend.mel_frequencies().numpy()
            self.unit = "log mel power (25-ms channel)"
            return
        if isinstance(self.frontend, MelSpectrogram):
            self.kind = "mel"
            self.mel = self.frontend
        else:  # waveform-only model: a log-mel for display
            self.kind = "waveform"
            n_fft = 2 ** int(round(math.log2(0.032 * sr)))
            self.mel = LogMel(sr, n_fft, max(1, sr // 100), 64, 0.0, sr / 2)
        m = self.mel
        frames = m.num_frames(num_samples)
        self.times = np.arange(frames) * m.hop_length / sr
        self.freqs = _slaney_centres(m.f_min, m.f_max if m.f_max is not None else sr / 2, m.n_mels)
        self.unit = "dB" if isinstance(m, LogMel) else "mel power"

    def image(self, out: torch.Tensor) -> np.ndarray:
        """Front-end output of one item -> ``(freqs, frames)``."""
        if self.kind == "multires":
            return out[0].detach().numpy()  # (3, mels, frames) -> channel 0
        return out.detach().T.numpy()  # (frames, mels) -> (mels, frames)

    def grad_map(self, grad: torch.Tensor) -> np.ndarray:
        """|gradient| on the front-end output of one item -> ``(freqs, frames)``."""
        if self.kind == "multires":
            return grad.abs().sum(0).numpy()
        return grad.abs().T.numpy()

    def waveform_image(self, waveform: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return self.mel.to(waveform.device)(waveform[None])[0].T.cpu().numpy()

    def waveform_grad_map(self, grad: torch.Tensor) -> np.ndarray:
        """Mel power spectrogram of the gradient signal, on the display grid."""
        m = self.mel
        power = stft_power(grad[None].double(), m.n_fft, m.hop_length, m.window.double(), m.center, m.pad_mode)
        return torch.matmul(power, m.melW.double())[0].T.float().numpy()


class _Hook:
    """Forward hook that makes a module's output a leaf we can differentiate against, optionally noisy."""

    def __init__(self, module: nn.Module, noise_level: float = 0.0, generator: torch.Generator | None = None):
        self.leaf: torch.Tensor | None = None
        self.noise_level, self.generator = noise_level, generator
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        out = output.detach()
        if self.noise_level > 0:
            span = (out.amax() - out.amin()).clamp(min=1e-12)
            noise = torch.randn(out.shape, generator=self.generator, dtype=out.dtype).to(out.device)
            out = out + self.noise_level * span * noise
        self.leaf = out.requires_grad_(True)
        return self.leaf

    def remove(self) -> None:
        self.handle.remove()


class _Capture:
    """Forward hook keeping a module's output (and, on backward, its gradient)."""

    def __init__(self, module: nn.Module, keep_grad: bool = True):
        self.output: torch.Tensor | None = None
        self.keep_grad = keep_grad
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        out = output[0] if isinstance(output, (tuple, list)) else output
        if self.keep_grad and out.requires_grad:
            out.retain_grad()
        self.output = out

    def remove(self) -> None:
        self.handle.remove()


# --------------------------------------------------------------------------------------------


def _probabilities(logits: torch.Tensor, activation: str) -> torch.Tensor:
    return apply_activation(logits, activation)


def _activation(bundle: ModelBundle, activation: str) -> str:
    if activation in ("softmax", "sigmoid"):
        return activation
    if activation != "auto":
        raise ValueError(f"activation must be 'auto', 'softmax' or 'sigmoid', got {activation!r}")
    return bundle.activation


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.nan_to_num(np.maximum(np.asarray(x, dtype=np.float64), 0.0))
    peak = x.max() if x.size else 0.0
    return (x / peak if peak > 0 else x).astype(np.float32)


def _resize_2d(x: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    return F.interpolate(x[None, None].float(), size=(rows, cols), mode="bilinear", align_corners=False)[0, 0]


def _time_axis(model: AudioModel, layer: nn.Module, waveform: torch.Tensor, shape: tuple[int, ...]) -> int | None:
    """Which spatial axis of ``layer``'s output follows the input length (None if none does)."""
    longer = torch.cat([waveform, waveform[:, : max(waveform.shape[1] // 2, model.info.min_samples, 1)]], dim=1)
    cap = _Capture(layer, keep_grad=False)
    try:
        with torch.no_grad():
            model(longer)
    finally:
        cap.remove()
    other = tuple(cap.output.shape[2:])
    changed = [i for i, (a, b) in enumerate(zip(shape, other)) if a != b]
    return changed[0] if len(changed) == 1 else (changed[-1] if changed else None)


def _gradcam(model, waveform, target, display: _Display) -> tuple[np.ndarray, str]:
    layer_name = model.info.gradcam_layer
    if not layer_name:
        raise ValueError(f"{model.info.name}: no gradcam_layer in its ModelInfo; use method='gradient'")
    layer = model.get_submodule(layer_name)
    cap = _Capture(layer)
    try:
        with torch.enable_grad():
            logits = model(waveform)["logits"]
            logits[0, target].backward()
    finally:
        cap.remove()
    act, grad = cap.output, cap.output.grad
    if grad is None:
        raise ValueError(f"{model.info.name}: no gradient reached {layer_name}")
    act, grad = act[0].detach(), grad[0]  # (channels, *spatial)
    spatial = tuple(range(1, act.dim()))
    weights = grad.mean(dim=spatial, keepdim=True)
    cam = F.relu((weights * act).sum(0))  # (*spatial)
    rows, cols = len(display.freqs), len(display.times)
    if cam.dim() == 0:
        return np.full((rows, cols), float(cam)), layer_name
    t_axis = _time_axis(model, layer, waveform, tuple(act.shape[1:]))
    if cam.dim() == 1 or t_axis is None:
        profile = cam if cam.dim() == 1 else cam.mean(dim=tuple(range(cam.dim() - 1)))
        return _resize_2d(profile[None], rows, cols).numpy(), layer_name
    if cam.dim() > 2:  # e.g. a 3-D map: keep time and the last other axis
        keep = [t_axis, max(i for i in range(cam.dim()) if i != t_axis)]
        cam = cam.mean(dim=tuple(i for i in range(cam.dim()) if i not in keep))
        t_axis = 0 if keep[0] < keep[1] else 1
    cam = cam.T if t_axis == 1 else cam  # (time, other)
    if display.kind == "waveform":  # learned axis, no frequency meaning: time only
        return _resize_2d(cam.mean(dim=1)[None], rows, cols).numpy(), layer_name
    return _resize_2d(cam.T, rows, cols).numpy(), layer_name  # (freq, time)


def saliency(
    model: AudioModel,
    waveform,
    method: str = "gradient",
    target: int | None = None,
    samples: int = 16,
    noise_level: float = 0.1,
    activation: str = "auto",
    labels=None,
    seed: int = 0,
    bundle: ModelBundle | None = None,
) -> SaliencyMap:
    """Explain one clip's prediction.

    Args:
        model: any registered model (its weights are not modified; it is used in eval mode).
        waveform: ``(samples,)`` or ``(1, samples)`` at ``model.sample_rate`` (numpy or torch).
        method: ``"gradient"``, ``"smoothgrad"`` or ``"gradcam"`` (see the module docstring).
        target: class to explain; default the predicted class.
        samples / noise_level: SmoothGrad's number of noisy copies and noise scale.
        activation: ``"softmax"``, ``"sigmoid"`` or ``"auto"`` (from the bundle's task).
        labels: class names (list) for the result's ``label`` / ``target_label``.
        seed: SmoothGrad noise seed.
        bundle: the model's :class:`~audiocnn.models.ModelBundle` (default: multi-label for a
            527-class AudioSet head, single-label otherwise). A clip shorter than the bundle's window is zero-padded to
            it when the bundle pads short inputs (as the model was trained).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    x = torch.as_tensor(np.asarray(waveform, dtype=np.float32) if not torch.is_tensor(waveform) else waveform).float()
    if x.dim() == 2 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 1:
        raise ValueError(f"saliency explains one clip: expected (samples,) or (1, samples), got {tuple(x.shape)}")
    if bundle is None:  # no description: AudioSet-sized heads are taggers (PANNs), others classifiers
        bundle = ModelBundle.for_model(model, task="multi-label" if model.num_classes == 527 else "single-label")
    window, _ = bundle.windowing.sizes(model.sample_rate, model.info.min_samples)
    shortest = window if bundle.windowing.pad_short else model.info.min_samples
    if x.shape[0] < shortest:
        x = F.pad(x, (0, shortest - x.shape[0]))
    p = next(model.parameters(), None)
    x = x.to(p.device if p is not None else "cpu")
    was_training = model.training
    model.eval()
    act = _activation(bundle, activation)
    display = _Display(model, x.shape[0])
    # Parameters need no gradients; the hooked leaf or the waveform does.
    flags = [(q.requires_grad, q.grad) for q in model.parameters()]
    for q in model.parameters():
        q.requires_grad_(False)
    try:
        hook = _Hook(display.frontend) if display.frontend is not None else None
        try:
            with torch.no_grad():
                logits = model(x[None])["logits"][0]
            spectrogram = display.image(hook.leaf[0]) if hook is not None and display.kind != "waveform" else display.waveform_image(x)
        finally:
            if hook is not None:
                hook.remove()
        probs = _probabilities(logits, act)
        predicted = int(torch.argmax(logits))
        tgt = predicted if target is None else int(target)
        if not 0 <= tgt < logits.shape[0]:
            raise ValueError(f"target {tgt} out of range for {logits.shape[0]} classes")
        on_spectrogram = display.kind in ("multires", "mel") and model.info.input in ("log-mel", "multi-res mel")

        if method == "gradcam":
            for q in model.parameters():  # Grad-CAM needs activations in the graph
                q.requires_grad_(True)
            sal, layer = _gradcam(model, x[None], tgt, display)
            kind = f"gradcam:{layer}"
        else:
            n = samples if method == "smoothgrad" else 1
            g = torch.Generator().manual_seed(seed)
            if on_spectrogram:
                hook = _Hook(display.frontend, noise_level if method == "smoothgrad" else 0.0, g)
                try:
                    with torch.enable_grad():
                        out = model(x[None].expand(n, -1))["logits"]
                        out[:, tgt].sum().backward()
                    grads = hook.leaf.grad
                finally:
                    hook.remove()
                sal = np.mean([display.grad_map(grads[i]) for i in range(n)], axis=0)
                kind = "spectrogram"
            else:
                w = x[None].expand(n, -1).clone()
                if method == "smoothgrad":
                    span = float(x.max() - x.min()) or 1.0
                    w = w + noise_level * span * torch.randn(w.shape, generator=g).to(w.device)
                w.requires_grad_(True)
                with torch.enable_grad():
                    model(w)["logits"][:, tgt].sum().backward()
                sal = np.mean([display.waveform_grad_map(w.grad[i].cpu()) for i in range(n)], axis=0)
                kind = "waveform"
    finally:
        for q, (f, grad) in zip(model.parameters(), flags):
            q.requires_grad_(f)
            q.grad = grad
        model.train(was_training)

    names = list(labels) if labels is not None else None
    return SaliencyMap(
        spectrogram=np.asarray(spectrogram, dtype=np.float32),
        saliency=_normalise(sal),
        times=np.asarray(display.times, dtype=np.float64),
        freqs=np.asarray(display.freqs, dtype=np.float64),
        predicted=predicted,
        probability=float(probs[predicted]),
        target=tgt,
        target_probability=float(probs[tgt]),
        method=method,
        activation=act,
        input_kind=kind,
        label=names[predicted] if names else None,
        target_label=names[tgt] if names else None,
        spectrogram_unit=display.unit,
        sample_rate=model.sample_rate,
    )


def plot_saliency(result: SaliencyMap, path=None, title: str | None = None):
    """Two panels: the input spectrogram, and the saliency map over it (time in s, frequency in Hz).

    Returns the matplotlib figure; saved to ``path`` when given.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    t, f = result.times, result.freqs
    dt = (t[1] - t[0]) if len(t) > 1 else 0.01
    extent = (t[0] - dt / 2, t[-1] + dt / 2, 0, len(f))
    fig, axes = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True, constrained_layout=True)
    im = axes[0].imshow(result.spectrogram, origin="lower", aspect="auto", extent=extent, cmap="magma")
    fig.colorbar(im, ax=axes[0], label=result.spectrogram_unit)
    axes[0].set_title("input spectrogram")
    axes[1].imshow(result.spectrogram, origin="lower", aspect="auto", extent=extent, cmap="gray")
    sm = axes[1].imshow(result.saliency, origin="lower", aspect="auto", extent=extent, cmap="jet", alpha=0.55, vmin=0, vmax=1)
    fig.colorbar(sm, ax=axes[1], label="saliency")
    axes[1].set_title(f"{result.method} saliency" + (f" ({result.input_kind})" if result.input_kind.startswith("gradcam") else ""))
    axes[1].set_xlabel("time (s)")
    ticks = np.linspace(0, len(f) - 1, 6).round().astype(int)
    for ax in axes:
        ax.set_ylabel("frequency (Hz)")
        ax.set_yticks(ticks + 0.5)
        ax.set_yticklabels([f"{f[i]:.0f}" for i in ticks])
    name = result.label if result.label is not None else f"class {result.predicted}"
    head = f"predicted: {name} (p = {result.probability:.3f})"
    if result.target != result.predicted:
        tname = result.target_label if result.target_label is not None else f"class {result.target}"
        head += f"; explaining {tname} (p = {result.target_probability:.3f})"
    fig.suptitle(title + "\n" + head if title else head)
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
