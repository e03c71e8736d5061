"""Export the whole waveform-to-logits graph to ONNX or TorchScript, with a parity check.

The graph exported is ``waveform (batch, samples) -> logits (batch, classes)``, plus the
embedding as a second output, so the front-end (STFT, mel filterbank, dB) travels with the
network and a consumer only needs to feed raw audio at ``model.sample_rate``.

``torch.stft`` returns complex tensors, which the TorchScript-based ONNX exporter rejects
("STFT does not currently support complex types"). For ONNX the exported copy of the model
computes the STFT as a strided 1-D convolution with Hann-windowed cosine/sine (DFT) kernels
on the reflect-padded waveform, the way torchlibrosa does: the same arithmetic in another
order, so the numbers agree with the FFT path to float32 rounding (checked after every
export). The model you pass in is not modified.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audiocnn.atomic import atomic_path, write_with
from audiocnn.features.multires import MultiResolutionMel
from audiocnn.features.spectrogram import LogMel, MelSpectrogram, power_to_db
from audiocnn.models.base import AudioModel
from audiocnn.models.bundle import ModelBundle

__all__ = [
    "ExportResult",
    "LogitsGraph",
    "export_model",
    "export_onnx",
    "export_torchscript",
    "onnx_friendly",
    "parity_check",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# ONNX-friendly STFT


def dft_kernels(n_fft: int, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Windowed DFT kernels ``(n_fft//2+1, 1, n_fft)`` (real, imaginary), computed in float64."""
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
    ang = 2 * math.pi * k[:, None] * n[None, :] / n_fft
    w = window.to(torch.float64)[None, :]
    return (torch.cos(ang) * w)[:, None, :].float(), (-torch.sin(ang) * w)[:, None, :].float()


class _ConvStftMixin:
    """Replaces ``torch.stft`` by a convolution with DFT kernels (exportable to ONNX)."""

    def _conv_mel_power(self, waveform: torch.Tensor) -> torch.Tensor:
        x = waveform[:, None, :]
        if self.center:
            pad = self.n_fft // 2
            x = F.pad(x, (pad, pad), mode=self.pad_mode)
        real = F.conv1d(x, self.dft_real, stride=self.hop_length)
        imag = F.conv1d(x, self.dft_imag, stride=self.hop_length)
        power = (real * real + imag * imag).transpose(1, 2)  # (batch, frames, bins)
        return torch.matmul(power, self.melW)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        power = self._conv_mel_power(waveform)
        if isinstance(self, LogMel):
            return power_to_db(power, self.amin, self.ref, self.top_db)
        return power


class _ConvMultiResMixin:
    """The multi-resolution mel's per-channel power spectrogram as a DFT convolution.

    Each channel's Hann window is centred in a zero-padded ``n_fft`` frame; the kernels keep only
    the taps under the window (25/50/100 ms instead of 100 ms for all three) and the input is
    shifted to match: the same sums without their zero terms, at 58 % of the size and cost.
    """

    def channel_power(self, waveform: torch.Tensor, i: int) -> torch.Tensor:
        pad = self.n_fft // 2
        x = F.pad(waveform[:, None, :], (pad, pad), mode="reflect")
        left, right = self.dft_trim[i]
        x = x[:, :, left : x.shape[-1] - right]
        real = F.conv1d(x, getattr(self, f"dft_real_{i}"), stride=self.hop_lengths[i])
        imag = F.conv1d(x, getattr(self, f"dft_imag_{i}"), stride=self.hop_lengths[i])
        return (real * real + imag * imag).transpose(1, 2)  # (batch, frames, bins)


def onnx_friendly(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whose mel front-ends use a convolutional STFT.

    Every :class:`~audiocnn.features.MelSpectrogram` (and :class:`LogMel`) sub-module of the copy
    gets its class swapped for a subclass whose ``forward`` uses :class:`_ConvStftMixin`; all other
    attributes and methods (``num_frames``, ``melW`` ...) stay as they are. The ImageNet models'
    :class:`~audiocnn.features.multires.MultiResolutionMel` gets :class:`_ConvMultiResMixin`.
    """
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, MelSpectrogram) and not isinstance(module, _ConvStftMixin):
            cls = type(module)
            module.__class__ = type(f"ConvStft{cls.__name__}", (_ConvStftMixin, cls), {})
            real, imag = dft_kernels(module.n_fft, module.window)
            module.register_buffer("dft_real", real.to(module.melW.device), persistent=False)
            module.register_buffer("dft_imag", imag.to(module.melW.device), persistent=False)
        elif isinstance(module, MultiResolutionMel) and not isinstance(module, _ConvMultiResMixin):
            cls = type(module)
            module.__class__ = type(f"ConvStft{cls.__name__}", (_ConvMultiResMixin, cls), {})
            module.dft_trim = []
            for i, win in enumerate(module.win_lengths):
                left = (module.n_fft - win) // 2  # where _padded_window put the window
                real, imag = dft_kernels(module.n_fft, getattr(module, f"hann_{i}"))
                module.register_buffer(f"dft_real_{i}", real[..., left : left + win].contiguous().to(module.melW.device), persistent=False)
                module.register_buffer(f"dft_imag_{i}", imag[..., left : left + win].contiguous().to(module.melW.device), persistent=False)
                module.dft_trim.append((left, module.n_fft - win - left))
    return model


# --------------------------------------------------------------------------------------------
# Export


class LogitsGraph(nn.Module):
    """``waveform (batch, samples) -> (logits (batch, classes), embedding (batch, dim))``."""

    def __init__(self, model: AudioModel):
        super().__init__()
        self.model = model

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(waveform)
        return out["logits"], out["embedding"]


@dataclass
class ExportResult:
    """What :func:`export_model` wrote and how well it agrees with eager PyTorch."""

    path: Path
    format: str
    max_abs_diff_logits: float
    max_abs_diff_prob: float
    eager_ms: float
    exported_ms: float
    test_shape: tuple[int, int]

    def summary(self) -> str:
        return (
            f"wrote {self.path} ({self.format}, {self.path.stat().st_size / 1e6:.1f} MB)\n"
            f"parity vs eager PyTorch on a random {self.test_shape[0]}x{self.test_shape[1]} waveform batch "
            f"(a length other than the one traced): max |logit diff| = {self.max_abs_diff_logits:.2e}, "
            f"max |sigmoid diff| = {self.max_abs_diff_prob:.2e}; "
            f"time {self.exported_ms:.0f} ms ({self.format}) vs {self.eager_ms:.0f} ms (eager)"
        )


def _example_input(model: AudioModel, seconds: float, batch: int = 2, seed: int = 0) -> torch.Tensor:
    n = max(int(seconds * model.sample_rate), model.info.min_samples)
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(batch, n, generator=g)


BUNDLE_KEY = "audiocnn_bundle"


def export_onnx(model: AudioModel, path: str | os.PathLike, seconds: float = 10.0, opset: int = 17, bundle: ModelBundle | None = None) -> Path:
    """Write ``model`` as ONNX with dynamic batch and sample axes; the model's bundle (labels,
    task, sample rate, windowing) is stored as JSON in the metadata entry ``audiocnn_bundle``.
    Returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        _export_onnx(model, tmp, seconds, opset)
        if bundle is not None:
            import onnx

            proto = onnx.load(str(tmp))
            entry = proto.metadata_props.add()
            entry.key, entry.value = BUNDLE_KEY, json.dumps(bundle.to_dict())
            onnx.save(proto, str(tmp))
    return path


def _export_onnx(model: AudioModel, path: Path, seconds: float, opset: int) -> None:
    graph = LogitsGraph(onnx_friendly(model).eval()).eval()
    x = _example_input(model, seconds)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and constant-folding notices; parity is checked instead
        torch.onnx.export(
            graph,
            (x,),
            str(path),
            input_names=["waveform"],
            output_names=["logits", "embedding"],
            dynamic_axes={"waveform": {0: "batch", 1: "samples"}, "logits": {0: "batch"}, "embedding": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )


def export_torchscript(model: AudioModel, path: str | os.PathLike, seconds: float = 10.0, bundle: ModelBundle | None = None) -> Path:
    """Write ``model`` as a traced TorchScript module (``torch.jit.load`` to use it); the bundle,
    when given, is stored as the extra file ``audiocnn_bundle.json``."""
    path = Path(path)
    graph = LogitsGraph(copy.deepcopy(model).eval()).eval()
    x = _example_input(model, seconds)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(graph, (x,), check_trace=False)
    extra = {f"{BUNDLE_KEY}.json": json.dumps(bundle.to_dict())} if bundle is not None else {}
    write_with(path, lambda tmp: traced.save(str(tmp), _extra_files=extra))
    return path


def _timed(fn, x):
    t = time.perf_counter()
    y = fn(x)
    return y, 1000 * (time.perf_counter() - t)


def parity_check(model: AudioModel, path: str | os.PathLike, fmt: str, seconds: float = 7.3, batch: int = 3) -> ExportResult:
    """Run the exported file (onnxruntime or ``torch.jit.load``) and eager PyTorch on the same
    random batch, of a length other than the export's example, and compare the logits."""
    path = Path(path)
    x = _example_input(model, seconds, batch=batch, seed=1)
    model = model.eval()
    with torch.inference_mode():
        ref, eager_ms = _timed(lambda a: model(a)["logits"].numpy(), x)
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got, ms = _timed(lambda a: sess.run(["logits"], {"waveform": a.numpy()})[0], x)
    elif fmt == "torchscript":
        loaded = torch.jit.load(str(path)).eval()
        with torch.inference_mode():
            got, ms = _timed(lambda a: loaded(a)[0].numpy(), x)
    else:
        raise ValueError(f"format must be 'onnx' or 'torchscript', got {fmt!r}")

    def sig(z):
        return 1.0 / (1.0 + np.exp(-z))

    return ExportResult(
        path=path,
        format=fmt,
        max_abs_diff_logits=float(np.abs(got - ref).max()),
        max_abs_diff_prob=float(np.abs(sig(got) - sig(ref)).max()),
        eager_ms=eager_ms,
        exported_ms=ms,
        test_shape=tuple(x.shape),
    )


def export_model(
    model: AudioModel, path: str | os.PathLike, fmt: str = "onnx", seconds: float = 10.0, bundle: ModelBundle | None = None
) -> ExportResult:
    """Export ``model`` to ``path`` in ``fmt`` (``"onnx"`` or ``"torchscript"``) with its bundle,
    and check parity."""
    if fmt == "onnx":
        export_onnx(model, path, seconds, bundle=bundle)
    elif fmt == "torchscript":
        export_torchscript(model, path, seconds, bundle=bundle)
    else:
        raise ValueError(f"format must be 'onnx' or 'torchscript', got {fmt!r}")
    return parity_check(model, path, fmt)
