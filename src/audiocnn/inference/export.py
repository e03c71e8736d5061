"""Export the whole waveform-to-logits graph to ONNX or a ``torch.export`` program, with a parity check.

The graph exported is ``waveform (batch, samples) -> logits (batch, classes)``, plus the
embedding as a second output, so the front-end (STFT, mel filterbank, dB) travels with the
network and a consumer only needs to feed raw audio at ``model.sample_rate``. Batch and length
are dynamic (``torch.export.Dim.DYNAMIC``).

- ``onnx``: the ``torch.export``-based ONNX exporter (``torch.onnx.export(..., dynamo=True)``,
  which needs ``onnxscript``); one self-contained ``.onnx`` file, the bundle in the metadata
  entry ``audiocnn_bundle``. The exported copy of the model computes the STFT as a strided 1-D
  convolution with Hann-windowed cosine/sine (DFT) kernels on the reflect-padded waveform, the
  way torchlibrosa does (:func:`onnx_friendly`), so the graph needs only Conv and MatMul, which
  every ONNX runtime has, and not the STFT operator: the same arithmetic in another order, so
  the numbers agree with the FFT path to float32 rounding (checked after every export).
- ``pt2``: an :class:`torch.export.ExportedProgram` written by :func:`torch.export.save`
  (``torch.export.load(path).module()`` runs it), the bundle in the archive's extra file
  ``audiocnn_bundle.json``. It keeps ``torch.stft``.

The model you pass in is not modified.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audiocnn.atomic import write_with
from audiocnn.errors import AudiocnnError, require_extra
from audiocnn.features.multires import MultiResolutionMel
from audiocnn.features.spectrogram import LogMel, MelSpectrogram, power_to_db
from audiocnn.models.base import AudioModel
from audiocnn.models.bundle import ModelBundle

__all__ = [
    "BUNDLE_KEY",
    "FORMATS",
    "ExportError",
    "ExportResult",
    "LogitsGraph",
    "export_model",
    "export_onnx",
    "export_pt2",
    "load_pt2",
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
    min_samples: int | None = None
    """``pt2``: the shortest waveform (samples) the program accepts; None for ONNX."""

    def summary(self) -> str:
        accepts = f"\nthe program accepts waveforms of at least {self.min_samples} samples" if self.min_samples else ""
        return (
            f"wrote {self.path} ({self.format}, {self.path.stat().st_size / 1e6:.1f} MB)\n"
            f"parity vs eager PyTorch on a random {self.test_shape[0]}x{self.test_shape[1]} waveform batch "
            f"(a length other than the export's example): max |logit diff| = {self.max_abs_diff_logits:.2e}, "
            f"max |sigmoid diff| = {self.max_abs_diff_prob:.2e}; "
            f"time {self.exported_ms:.0f} ms ({self.format}) vs {self.eager_ms:.0f} ms (eager)"
            + accepts
        )


def _example_input(model: AudioModel, seconds: float, batch: int = 2, seed: int = 0) -> torch.Tensor:
    n = max(int(seconds * model.sample_rate), model.info.min_samples)
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(batch, n, generator=g)


BUNDLE_KEY = "audiocnn_bundle"
"""ONNX metadata key, and (with ``.json``) the ``.pt2`` extra file, holding the model's bundle."""

FORMATS = ("onnx", "pt2")


class ExportError(AudiocnnError):
    """``torch.export`` could not capture the model's graph with a dynamic batch and length."""


@contextmanager
def _capturing(model: AudioModel):
    """Turn a failure of ``torch.export`` into an :class:`ExportError` naming the model."""
    try:
        yield
    except (torch._dynamo.exc.UserError, NotImplementedError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError(f"{model.info.name}: torch.export cannot capture this model with a dynamic batch and length ({first})") from e


def _dynamic_shapes() -> dict:
    return {"waveform": {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC}}


def _own_storage(model: nn.Module) -> nn.Module:
    """Give every parameter and buffer that is a view into a larger storage (the periodic Hann
    window is the first ``n`` of ``n + 1`` samples) or not contiguous (channels-last weights of a
    model that has been through :class:`~audiocnn.inference.runtime.Runner`) a contiguous
    storage of its own, in place: the archive writer stores whole storages and warns otherwise."""
    for module in model.modules():
        for store in (module._parameters, module._buffers):
            for name, t in store.items():
                if t is None or (t.is_contiguous() and t.untyped_storage().nbytes() == t.numel() * t.element_size()):
                    continue
                own = t.detach().clone(memory_format=torch.contiguous_format)
                if isinstance(t, nn.Parameter):
                    t.data = own
                else:
                    store[name] = own
    return model


class _NoTorchvisionNotice(logging.Filter):
    """Drops the ONNX exporter's log lines about torchvision operators (unused here)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "torchvision is not installed" not in record.getMessage()


@contextmanager
def _quiet_onnx_logs():
    """The ONNX exporter's optimiser logs every pass at INFO (hundreds of lines under the CLI's
    INFO logging): its loggers, unless given a level of their own, are held at WARNING while
    exporting."""
    registry = logging.getLogger("torch.onnx._internal.exporter._registration")
    notice = _NoTorchvisionNotice()
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir")]
    levels = [lg.level for lg in loggers]
    registry.addFilter(notice)
    for lg in loggers:
        if lg.level == logging.NOTSET:
            lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        registry.removeFilter(notice)
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_onnx(model: AudioModel, path: str | os.PathLike, seconds: float = 10.0, opset: int = 18, bundle: ModelBundle | None = None) -> Path:
    """Write ``model`` as one ONNX file (weights inside) with dynamic batch and sample axes; the
    model's bundle (labels, task, sample rate, windowing) is stored as JSON in the metadata entry
    ``audiocnn_bundle``. ``seconds``: length of the example waveform the graph is captured on.
    Needs ``onnxscript`` (the ``export`` extra). Returns the path."""
    require_extra("onnxscript", "export", "ONNX export")
    path = Path(path)
    graph = LogitsGraph(_own_storage(onnx_friendly(model).eval())).eval()
    x = _example_input(model, seconds)
    with torch.no_grad(), _quiet_onnx_logs(), _capturing(model):
        program = torch.onnx.export(
            graph,
            (x,),
            input_names=["waveform"],
            output_names=["logits", "embedding"],
            dynamic_shapes=_dynamic_shapes(),
            opset_version=opset,
            dynamo=True,
            verbose=False,
        )
    if bundle is not None:
        program.model.metadata_props[BUNDLE_KEY] = json.dumps(bundle.to_dict())
    write_with(path, lambda tmp: program.save(str(tmp), external_data=False))
    return path


def export_pt2(model: AudioModel, path: str | os.PathLike, seconds: float = 10.0, bundle: ModelBundle | None = None) -> Path:
    """Write ``model`` as a ``torch.export`` program (:func:`torch.export.save`; run it with
    :func:`load_pt2` or ``torch.export.load(path).module()``); the bundle, when given, is the
    archive's extra file ``audiocnn_bundle.json``. ``seconds``: length of the example waveform.
    The program checks its input's length against the shortest it was exported for."""
    path = Path(path)
    graph = LogitsGraph(_own_storage(copy.deepcopy(model).eval())).eval()
    x = _example_input(model, seconds)
    with torch.no_grad(), _capturing(model):
        program = torch.export.export(graph, (x,), dynamic_shapes=_dynamic_shapes())
    extra = {f"{BUNDLE_KEY}.json": json.dumps(bundle.to_dict())} if bundle is not None else {}
    write_with(path, lambda tmp: torch.export.save(program, str(tmp), extra_files=extra))
    return path


def load_pt2(path: str | os.PathLike) -> tuple[nn.Module, dict | None]:
    """``(module, bundle dict or None)`` of a file written by :func:`export_pt2`; ``module(waveform
    (batch, samples))`` returns ``(logits (batch, classes), embedding (batch, dim))``."""
    extra = {f"{BUNDLE_KEY}.json": ""}
    program = torch.export.load(str(path), extra_files=extra)
    text = extra[f"{BUNDLE_KEY}.json"]
    return program.module(), (json.loads(text) if text else None)


def _min_samples(program: torch.export.ExportedProgram) -> int | None:
    """Shortest waveform a program accepts (its range constraint on the sample axis)."""
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == "waveform")
    size = node.meta["val"].shape[1]
    if not isinstance(size, torch.SymInt):
        return int(size)
    rng = program.range_constraints.get(size.node.expr)
    return int(rng.lower) if rng is not None else None


def _timed(fn, x):
    t = time.perf_counter()
    y = fn(x)
    return y, 1000 * (time.perf_counter() - t)


def parity_check(model: AudioModel, path: str | os.PathLike, fmt: str, seconds: float = 7.3, batch: int = 3) -> ExportResult:
    """Run the exported file (onnxruntime or the ``torch.export`` program) and eager PyTorch on
    the same random batch, of a length other than the export's example, and compare the logits."""
    path = Path(path)
    x = _example_input(model, seconds, batch=batch, seed=1)
    model = model.eval()
    with torch.inference_mode():
        ref, eager_ms = _timed(lambda a: model(a)["logits"].numpy(), x)
    min_samples = None
    if fmt == "onnx":
        require_extra("onnxruntime", "export", "the parity check of an ONNX export")
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got, ms = _timed(lambda a: sess.run(["logits"], {"waveform": a.numpy()})[0], x)
    elif fmt == "pt2":
        program = torch.export.load(str(path))
        loaded, min_samples = program.module(), _min_samples(program)
        with torch.inference_mode():
            got, ms = _timed(lambda a: loaded(a)[0].numpy(), x)
    else:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")

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
        min_samples=min_samples,
    )


def export_model(
    model: AudioModel, path: str | os.PathLike, fmt: str = "onnx", seconds: float = 10.0, bundle: ModelBundle | None = None
) -> ExportResult:
    """Export ``model`` to ``path`` in ``fmt`` (``"onnx"`` or ``"pt2"``) with its bundle, and
    check parity."""
    if fmt == "onnx":
        export_onnx(model, path, seconds, bundle=bundle)
    elif fmt == "pt2":
        export_pt2(model, path, seconds, bundle=bundle)
    else:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    return parity_check(model, path, fmt)
