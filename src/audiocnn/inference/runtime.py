"""The CPU fast path shared by tagging, SED, embeddings and the HEAR API.

:class:`Runner` wraps an :class:`~audiocnn.models.AudioModel` for inference:

- ``torch.inference_mode`` (no autograd bookkeeping);
- channels-last weights for every 2-D convolution (oneDNN's fast layout on x86; speeds in
  ``docs/results.md``);
- ``precision``: ``"fp32"``; ``"bf16"`` (``torch.autocast`` to bfloat16 on CPU, outputs cast
  back to float32; BatchNorm folded into the convolutions (of a copy of the model unless
  ``copy=False``), and the 3x3 convolutions with >= 512 outputs computed by Winograd F(2x2, 3x3)
  with bfloat16 products, :mod:`audiocnn.inference.winograd`: 2.25x fewer multiplies where Cnn14
  spends most of its time; on a CPU without native bf16 (AVX512-BF16/AMX) a warning, and no
  Winograd); ``"int8"``: static int8 quantisation of the convolution blocks, BatchNorm
  folded, activation ranges calibrated on ``calibration`` clips or a built-in synthetic set
  (:mod:`audiocnn.inference.quantize`, PT2E quantisation with torchao, the ``int8`` extra; the
  fastest path for the PANNs CNNs); a model without such blocks gets dynamic int8
  quantisation of its ``nn.Linear`` layers instead (with a log line: that gains little, the
  convolutions stay float32);
- ``backend="onnxruntime"``: the model is exported to ONNX (waveform -> logits, embedding,
  see :mod:`audiocnn.inference.export`) and run by ONNX Runtime; clip-level outputs only;
- inputs shorter than ``model.info.min_samples`` are zero-padded at the end with a warning
  instead of failing.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import torch
from torch import nn

from audiocnn.cpu import cpu_has_native_bf16
from audiocnn.models.base import AudioModel

__all__ = ["BACKENDS", "PRECISIONS", "Runner"]

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "int8")
BACKENDS = ("torch", "onnxruntime")


class Runner:
    """Inference wrapper: ``runner(waveform (batch, samples)) -> dict of float32 tensors``.

    Args:
        model: an :class:`AudioModel` (copied for ``int8``; for ``bf16`` copied unless ``copy`` is
            False; for ``fp32`` put in eval mode and converted to channels-last in place).
        precision: ``"fp32"``, ``"bf16"`` or ``"int8"``.
        num_threads: ``torch.set_num_threads`` (process-wide) if given.
        channels_last: store 4-D conv weights channels-last (default True).
        calibration: ``int8`` only: ``(clips, samples)`` waveforms at the model's rate, each at
            least ``model.info.min_samples`` long, or audio files / folders (up to 16 windows of
            5 s are used), to calibrate the activation ranges on; default:
            :func:`~audiocnn.inference.quantize.synthetic_calibration` (deterministic). Clips like
            the ones to be tagged are better.
        winograd: ``bf16`` only: compute the deep 3x3 convolutions by Winograd (default True, and
            ignored on a CPU without native bf16; False = oneDNN's direct bf16 convolution everywhere).
        copy: ``bf16``: False lets the runner fold BatchNorm into ``model`` itself instead of a copy
            (one copy of the weights less; the model no longer loads checkpoints). For callers
            that built the model themselves.
    """

    def __init__(
        self,
        model: AudioModel,
        precision: str = "fp32",
        num_threads: int | None = None,
        channels_last: bool = True,
        backend: str = "torch",
        calibration: np.ndarray | torch.Tensor | None = None,
        winograd: bool = True,
        copy: bool = True,
    ):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "onnxruntime" and precision != "fp32":
            raise ValueError("the onnxruntime backend runs the exported fp32 graph; use precision='fp32'")
        if num_threads:
            torch.set_num_threads(int(num_threads))
        model = model.eval()
        self.backend = backend
        self._session = _onnx_session(model, num_threads or torch.get_num_threads()) if backend == "onnxruntime" else None
        if calibration is not None and precision != "int8":
            raise ValueError(f"calibration clips are only used by precision='int8', not {precision!r}")
        if precision == "int8":
            model = _quantize_int8(model, calibration, channels_last)
        elif precision == "bf16" and backend == "torch":
            if not cpu_has_native_bf16():
                log.warning("bf16: this CPU has no native bfloat16 arithmetic (no avx512_bf16/amx_bf16 in /proc/cpuinfo); "
                            "oneDNN emulates it, typically 2x or more SLOWER than fp32 -- use precision='fp32' (or int8); "
                            "the Winograd convolutions are left off")
                winograd = False  # emulated bf16 matrix products were ~25x slower than fp32 (AVX2 simulation)
            model = _prepare_bf16(model, winograd, copy)
        if channels_last and precision != "int8":  # int8: done before quantising (packed weights have no layout to change)
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.precision = precision
        self.info = model.info
        self.sample_rate = model.sample_rate
        self._warned_short = False

    def pad_short(self, waveform: torch.Tensor, what: str = "input") -> torch.Tensor:
        """Zero-pad ``(batch, samples)`` at the end to ``min_samples``, warning once per call site."""
        need = self.info.min_samples
        n = waveform.shape[-1]
        if n >= need:
            return waveform
        msg = (
            f"{what} has {n} samples ({n / self.sample_rate:.3f} s), shorter than the {need} "
            f"{self.info.name} needs; zero-padded to {need / self.sample_rate:.3f} s"
        )
        warnings.warn(msg, stacklevel=3)
        return torch.nn.functional.pad(waveform, (0, need - n))

    def __call__(self, waveform: torch.Tensor | np.ndarray) -> dict[str, torch.Tensor]:
        x = torch.as_tensor(waveform, dtype=torch.float32)
        if x.dim() == 1:
            x = x[None]
        x = self.pad_short(x)
        if self._session is not None:
            logits, emb = self._session.run(["logits", "embedding"], {"waveform": x.numpy()})
            return {"logits": torch.from_numpy(logits), "embedding": torch.from_numpy(emb)}
        out = self.run(self.model, x)
        return {k: v.float() for k, v in out.items()}

    def run(self, fn, *args):
        """``fn(*args)`` under ``inference_mode`` and this runner's precision."""
        with torch.inference_mode():
            if self.precision == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return fn(*args)
            return fn(*args)


def _prepare_bf16(model: AudioModel, winograd: bool, copy: bool = True) -> nn.Module:
    """``model`` (a copy if ``copy``) with BatchNorm folded into its conv blocks and, if
    ``winograd``, the deep 3x3 convolutions replaced by
    :class:`~audiocnn.inference.winograd.WinogradConv2d`."""
    import copy as copy_

    from audiocnn.inference.quantize import fold_batchnorm
    from audiocnn.inference.winograd import use_winograd

    model = (copy_.deepcopy(model) if copy else model).eval()
    folded = fold_batchnorm(model)
    n = use_winograd(model) if winograd else 0
    log.debug("bf16: %d BatchNorms folded, %d convolutions by Winograd", folded, n)
    return model


def _quantize_int8(model: AudioModel, calibration, channels_last: bool) -> nn.Module:
    """Static int8 conv blocks (calibrated) if the model has any, else dynamic int8 Linear."""
    from audiocnn.inference.quantize import quantize_conv_blocks

    q, n = quantize_conv_blocks(model, calibration, channels_last=channels_last)
    if n:
        return q
    log.info("%s has no ConvBlock to quantise statically: int8 = dynamic quantisation of its Linear layers only", model.info.name)
    return _quantize_linear(q)  # q: the unmodified copy, channels-last if asked


def _quantize_linear(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with dynamic int8 quantisation of its ``nn.Linear`` layers (torchao's
    ``Int8DynamicActivationInt8WeightConfig``: weights int8, activations quantised on the fly)."""
    import copy as copy_

    from audiocnn.errors import require_extra

    require_extra("torchao", "int8", "precision='int8'")
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    q = copy_.deepcopy(model).eval()
    quantize_(q, Int8DynamicActivationInt8WeightConfig(), filter_fn=lambda module, _: isinstance(module, nn.Linear))
    return q


def _onnx_session(model: AudioModel, threads: int):
    """Export ``model`` (waveform -> logits, embedding) to a temporary ONNX file and open it with
    ONNX Runtime (CPU, ``threads`` intra-op threads, all graph optimisations)."""
    import tempfile
    from pathlib import Path

    from audiocnn.errors import require_extra

    require_extra("onnxruntime", "export", "the onnxruntime backend")
    import onnxruntime as ort

    from audiocnn.inference.export import export_onnx

    with tempfile.TemporaryDirectory(prefix="audiocnn_onnx_") as tmp:
        path = export_onnx(model, Path(tmp) / "model.onnx")
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
