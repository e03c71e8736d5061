"""BatchNorm folding and static int8 quantisation of the convolution blocks (CPU fast path).

Used by :class:`audiocnn.inference.runtime.Runner` for ``precision="int8"``:

1. every :class:`~audiocnn.models.layers.ConvBlock` (conv-BN-ReLU x n, then 2-D pooling: the
   PANNs CNNs, the PANNs ResNets' stem and head, the Wavegram models) has its BatchNorms folded
   into the convolutions (:func:`fold_batchnorm`, exact up to float rounding);
2. the block becomes an :class:`Int8ConvBlock`: its conv+ReLU layers are captured with
   ``torch.export`` and quantised by PT2E (torchao's ``prepare_pt2e`` / ``convert_pt2e`` with the
   ``X86InductorQuantizer``): input quantised to uint8 (per tensor), int8 weights per output
   channel, then lowered to oneDNN's fused int8 convolution + ReLU (VNNI/AMX where the CPU has
   them), output float32, so the rest of the model is untouched; batch, time and frequency stay
   dynamic;
3. the activation ranges are calibrated (histogram observers) by running the model over
   calibration waveforms: by default :func:`synthetic_calibration` (a fixed, seeded set of
   noises, sweeps, tones, bursts, clicks and near-silence over a 37-dB range of levels), or the
   caller's own clips, which should be preferred when they are representative.

Needs ``torchao`` (``pip install "audiocnn[int8]"``). Where the time goes in Cnn14 (the 3x3
convolutions), int8 with VNNI does 4x the multiply-adds of fp32 per instruction (speeds:
``docs/results.md``). Models without a ``ConvBlock`` are left alone (``quantize_conv_blocks``
returns 0 blocks) and the caller falls back.
"""

from __future__ import annotations

import copy
import itertools
import logging
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from audiocnn.errors import require_extra
from audiocnn.cpu import cpu_has_vnni  # re-exported
from audiocnn.models.layers import ConvBlock, pool2d

__all__ = [
    "FLOAT_BELOW_CHANNELS",
    "Int8ConvBlock",
    "calibration_from_files",
    "cpu_has_vnni",
    "fold_batchnorm",
    "folded_conv",
    "int8_quantizer",
    "quantize_conv_blocks",
    "quantize_uint8",
    "synthetic_calibration",
]

log = logging.getLogger(__name__)


def folded_conv(block: ConvBlock, i: int) -> nn.Conv2d:
    """``block.conv{i}`` with ``block.bn{i}`` folded in (a new conv), or the conv itself when the
    BatchNorm is already gone."""
    conv, bn = getattr(block, f"conv{i}"), getattr(block, f"bn{i}")
    return conv if isinstance(bn, nn.Identity) else fuse_conv_bn_eval(conv, bn)


def fold_batchnorm(model: nn.Module) -> int:
    """Fold each :class:`ConvBlock`'s ``bn{i}`` into ``conv{i}`` (weights and a bias), in place;
    the BatchNorms become ``nn.Identity``. The model must be in eval mode (running statistics
    are used). Returns the number of folded pairs. A folded model no longer loads checkpoints.
    """
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode (it folds the running statistics)")
    n = 0
    for block in model.modules():
        if not isinstance(block, ConvBlock):
            continue
        for i in range(1, block.num_convs + 1):
            if isinstance(getattr(block, f"bn{i}"), nn.Identity):
                continue
            setattr(block, f"conv{i}", folded_conv(block, i))
            setattr(block, f"bn{i}", nn.Identity())
            n += 1
    return n


def int8_quantizer():
    """torchao's ``X86InductorQuantizer``: per-channel symmetric int8 weights, per-tensor uint8
    activations with histogram (L2-optimal range) calibration. Full 8-bit activation range on CPUs
    with VNNI; elsewhere 7 bits (``reduce_range``), which FBGEMM-era AVX2 kernels need to avoid
    overflow in their int16 accumulation. The full range gives the smaller probability error
    (docs/inference.md)."""
    require_extra("torchao", "int8", "precision='int8'")
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
        X86InductorQuantizer,
        get_default_x86_inductor_quantization_config,
    )

    quantizer = X86InductorQuantizer()
    quantizer.set_global(get_default_x86_inductor_quantization_config(reduce_range=not cpu_has_vnni()))
    return quantizer


FLOAT_BELOW_CHANNELS = 4
"""Convolutions with fewer input channels than this (the first one, reading the 1-channel
spectrogram) stay float32 in :class:`Int8ConvBlock`."""


def _dynamic_axes() -> tuple[dict, ...]:
    """Batch, time and frequency of a ``(batch, channels, time, freq)`` input, all dynamic."""
    dim = torch.export.Dim.DYNAMIC
    return ({0: dim, 2: dim, 3: dim},)


def _export_example(x: torch.Tensor) -> torch.Tensor:
    """A tensor like ``x`` with every dynamic axis at least 2 long (``torch.export`` specialises
    axes of size 1), in ``x``'s memory format."""
    b, c, h, w = x.shape
    fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous() else torch.contiguous_format
    return x.new_zeros(max(b, 2), c, max(h, 2), max(w, 2)).contiguous(memory_format=fmt)


def _lower_to_onednn(reference: nn.Module, example: torch.Tensor) -> nn.Module:
    """The PT2E-converted graph with each quantise -> dequantise -> conv -> ReLU -> quantise
    pattern replaced by oneDNN's fused int8 convolution (weights prepacked): the lowering of
    torchao's ``lower_pt2e_quantized_to_x86``, keeping the axes of :func:`_dynamic_axes` dynamic
    (torchao's captures one fixed shape)."""
    from torch._inductor.constant_folding import constant_fold
    from torch._inductor.fx_passes.freezing_patterns import freezing_passes

    conv2d = torch.ops.aten.conv2d.default  # decomposed to aten.convolution, the form the patterns match
    program = torch.export.export(reference, (example,), dynamic_shapes=_dynamic_axes())
    lowered = program.run_decompositions({conv2d: torch.export.default_decompositions()[conv2d]}).module()
    with torch.no_grad():
        freezing_passes(lowered, (example,))
    constant_fold(lowered)
    _fast_input_quantisation(lowered)
    return lowered


def quantize_uint8(x: torch.Tensor, scale: float, zero_point: int, quant_min: int, quant_max: int, dtype: torch.dtype) -> torch.Tensor:
    """``clamp(round(x / scale) + zero_point, quant_min, quant_max)`` as ``dtype``: the arithmetic
    of PT2E's ``quantize_per_tensor`` (the same values), in place on one temporary instead of a
    new tensor per step (the graph's inputs are the largest tensors it quantises)."""
    y = torch.mul(x.float(), 1.0 / scale)
    y.round_()
    if zero_point:
        y.add_(zero_point)
    return y.clamp_(quant_min, quant_max).to(dtype)


def _fast_input_quantisation(graph: nn.Module) -> None:
    """Point the lowered graph's float -> uint8 quantisations at :func:`quantize_uint8`."""
    quantize = torch.ops.quantized_decomposed.quantize_per_tensor.default
    for node in graph.graph.nodes:
        if node.op == "call_function" and node.target == quantize:
            node.target = quantize_uint8
    graph.recompile()


def _input_zero_point(graph: nn.Module) -> int | None:
    """Zero point of the uint8 quantisation of a lowered graph's input, if the graph starts with one."""
    inputs = {n for n in graph.graph.nodes if n.op == "placeholder"}
    for node in graph.graph.nodes:
        if node.op == "call_function" and node.target in (quantize_uint8, torch.ops.quantized_decomposed.quantize_per_tensor.default) and node.args[0] in inputs:
            return int(node.args[2])
    return None


class Int8ConvBlock(nn.Module):
    """A :class:`ConvBlock` whose convolutions run in int8; same call signature
    ``block(x (batch, channels, time, freq) float32, pool_size, pool_type) -> float32``.

    Leading convolutions with fewer than ``float_below_channels`` input channels stay float32
    (BatchNorm folded): in Cnn14 the first one has 9 multiply-adds per output against 576 for
    the next, and quantising the spectrogram it reads to 8 bits was the largest single error
    in a trained model (docs/inference.md). A block left with no int8 convolution runs in float.
    Pooling runs in float32 on the int8 convolutions' output.

    Life cycle: built float (``convs``: folded conv + ReLU); :meth:`observe` makes the next call
    capture ``convs`` with ``torch.export`` and insert PT2E observers, which the following calls
    feed (calibration); :meth:`convert` quantises and lowers it to oneDNN int8 kernels.
    :func:`quantize_conv_blocks` does all three.
    """

    def __init__(self, block: ConvBlock, float_below_channels: int = FLOAT_BELOW_CHANNELS):
        super().__init__()
        convs = [folded_conv(block, i) for i in range(1, block.num_convs + 1)]
        n_float = 0
        while n_float < len(convs) and convs[n_float].in_channels < float_below_channels:
            n_float += 1
        # leading convolutions with few input channels (the one reading the spectrogram) stay
        # float32: they cost almost nothing and an 8-bit spectrogram is the largest error source
        self.float_convs = nn.Sequential(*(nn.Sequential(c, nn.ReLU()) for c in convs[:n_float]))
        self.convs = nn.Sequential(*(nn.Sequential(c, nn.ReLU()) for c in convs[n_float:]))
        self.num_int8_convs = len(convs) - n_float
        self.observed: nn.Module | None = None  # convs captured, with observers (calibrating)
        self.int8: nn.Module | None = None  # convs quantised and lowered (after convert)
        self._quantizer = None
        self._example: torch.Tensor | None = None

    @property
    def converted(self) -> bool:
        return self.int8 is not None

    @property
    def input_zero_point(self) -> int | None:
        """Zero point of the uint8 input of the int8 convolutions (after :meth:`convert`)."""
        return _input_zero_point(self.int8) if self.int8 is not None else None

    def observe(self, quantizer) -> None:
        """Calibrate from the next call on: it captures ``convs`` and inserts observers."""
        if self.converted:
            raise RuntimeError("this block is already converted to int8")
        self._quantizer = quantizer

    def convert(self) -> None:
        """Quantise the observed convolutions (the calibrated ranges) and lower them to oneDNN."""
        if self.observed is None:
            raise RuntimeError("int8 block never ran while observing: nothing to convert (no calibration data reached it)")
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

        self.int8 = _lower_to_onednn(convert_pt2e(self.observed), self._example)
        self.observed, self._quantizer, self._example = None, None, None
        self.convs = nn.Sequential()  # the float copies are no longer used
        self.drop_relu_before_quant()

    def drop_relu_before_quant(self) -> bool:
        """After conversion: if the input quantiser's zero point is 0, quantising to uint8 already
        clamps negatives to 0, so the float ReLU before it is dropped (a full pass over the
        block's widest tensor; 29 of Cnn14's ~500 ms per batch of 8). Returns whether it was."""
        if not (len(self.float_convs) and self.converted) or self.input_zero_point != 0:
            return False
        if isinstance(self.float_convs[-1][1], nn.Identity):
            return False
        self.float_convs[-1][1] = nn.Identity()
        return True

    def _run_convs(self, x: torch.Tensor) -> torch.Tensor:
        if self.int8 is not None:
            return self.int8(x)
        if self._quantizer is not None and self.observed is None:
            from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

            self._example = _export_example(x)
            program = torch.export.export(self.convs, (self._example,), dynamic_shapes=_dynamic_axes())
            self.observed = prepare_pt2e(program.module(), self._quantizer)
        if self.observed is not None:
            return self.observed(x)
        return self.convs(x)

    def forward(self, x: torch.Tensor, pool_size=(2, 2), pool_type: str = "avg") -> torch.Tensor:
        # oneDNN's int8 convolutions read channels-last; a 1-channel spectrogram costs nothing to
        # restride here, its 64-channel output a full copy (or a reorder inside every call) later
        x = self.float_convs(x.contiguous(memory_format=torch.channels_last))
        if self.num_int8_convs:
            x = self._run_convs(x.float())  # float32 even under bf16 autocast
        return pool2d(x, pool_size, pool_type)


def synthetic_calibration(sample_rate: int, n: int = 8, seconds: float = 5.0, seed: int = 0) -> np.ndarray:
    """``(n, seconds * sample_rate)`` float32 calibration waveforms, the same for every call.

    Eight kinds in turn (white, pink and brown noise, a logarithmic sweep over the whole band,
    a harmonic tone with vibrato, syllable-rate noise bursts, clicks, near-silence), peak levels
    drawn between -40 and -3 dBFS: a spread of spectra and levels so that the calibrated
    activation ranges cover ordinary recordings without a data set.
    """
    rng = np.random.default_rng(seed)
    size = int(round(seconds * sample_rate))
    t = np.arange(size) / sample_rate
    out = np.empty((n, size), dtype=np.float32)
    for k in range(n):
        kind = k % 8
        level = 10 ** (rng.uniform(-40, -3) / 20)
        if kind == 0:
            x = rng.standard_normal(size)
        elif kind in (1, 2):  # 1/f (pink) and 1/f^2 (brown) power spectra
            f = np.fft.rfftfreq(size, 1 / sample_rate)
            f[0] = f[1]
            x = np.fft.irfft(np.fft.rfft(rng.standard_normal(size)) / f ** (0.5 if kind == 1 else 1.0), size)
        elif kind == 3:
            f0, f1 = 50.0, 0.45 * sample_rate
            x = np.sin(2 * np.pi * f0 * seconds / np.log(f1 / f0) * (np.exp(t / seconds * np.log(f1 / f0)) - 1))
        elif kind == 4:
            f0 = 100 * 2 ** (rng.uniform(0, 3) + 0.5 * np.sin(2 * np.pi * 0.3 * t))
            phase = 2 * np.pi * np.cumsum(f0) / sample_rate
            x = sum(np.sin(h * phase) / h for h in range(1, 12))
        elif kind == 5:
            x = np.clip(np.sin(2 * np.pi * rng.uniform(2, 6) * t), 0, None) ** 2 * rng.standard_normal(size)
        elif kind == 6:
            x = np.zeros(size)
            at = rng.integers(0, size, 40 * max(int(seconds), 1))
            x[at] = rng.uniform(-1, 1, at.shape[0])
        else:
            out[k] = 1e-3 * rng.standard_normal(size)
            continue
        out[k] = x / (np.abs(x).max() + 1e-12) * level
    return out


def calibration_from_files(paths, sample_rate: int, seconds: float = 5.0, max_clips: int = 16, max_files: int | None = None) -> np.ndarray:
    """``(clips, seconds * sample_rate)`` calibration waveforms from audio files and/or folders.

    At most ``max_files`` files (default ``8 * max_clips``), spread evenly over the (walked,
    sorted) list, are decoded, so a large folder costs no more than a small one. Each is
    resampled to ``sample_rate``; a long file gives its first windows of ``seconds`` (at most
    ``max_clips``, read chunk by chunk), and files shorter than a window are **concatenated**
    into windows, so that a folder of one-second clips calibrates on ~100 different recordings
    instead of 16 repeated ones (on a trained Cnn14 the max probability change of int8 fell with
    the number of distinct recordings: docs/inference.md). At most ``max_clips`` windows, spread
    evenly over all of them, are kept. Unreadable files are skipped with a warning; if none can
    be read, the error names them.
    """
    from audiocnn.inference.stream import expand_paths, file_windows

    size = int(round(seconds * sample_rate))
    files = expand_paths([paths] if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__") else list(paths))
    if not files:
        raise ValueError(f"no audio files for calibration in {paths!r}")
    max_files = max_files or 8 * max_clips
    files = [files[i] for i in np.unique(np.linspace(0, len(files) - 1, min(max_files, len(files))).round().astype(int))]
    windows, bad, short = [], [], []
    for f in files:
        try:  # read chunk by chunk and stop early: an hour-long file costs a few windows
            got = list(itertools.islice((w for _, w in file_windows(f, sample_rate, size)), max_clips))
        except Exception as e:  # noqa: BLE001 - reported below
            bad.append(f"{f}: {e}")
            continue
        if not got or got[0].shape[0] == 0:
            bad.append(f"{f}: no samples")
        elif got[0].shape[0] < size:
            short.append(got[0])
        else:
            windows.extend(got)
    if short:  # pack short files end to end; the remainder is repeated to fill the last window
        packed = np.concatenate(short)
        n_full = packed.shape[0] // size
        windows.extend(packed[i * size : (i + 1) * size] for i in range(n_full))
        rest = packed[n_full * size :]
        if rest.shape[0] and (n_full == 0 or rest.shape[0] >= size // 2):
            windows.append(np.tile(rest, -(-size // rest.shape[0]))[:size])
    if bad:
        log.warning("int8 calibration: %d file(s) skipped:\n  %s", len(bad), "\n  ".join(bad))
    if not windows:
        raise ValueError("no readable audio for calibration:\n  " + "\n  ".join(bad))
    pick = np.unique(np.linspace(0, len(windows) - 1, min(max_clips, len(windows))).round().astype(int))
    return np.stack([windows[i] for i in pick]).astype(np.float32)


def quantize_conv_blocks(
    model: nn.Module,
    calibration: np.ndarray | torch.Tensor | None = None,
    batch_size: int = 8,
    channels_last: bool = True,
) -> tuple[nn.Module, int]:
    """``(copy of model with every ConvBlock int8-quantised and calibrated, number of blocks)``.

    Args:
        model: an eval-mode model taking ``(batch, samples)`` waveforms (not modified).
        calibration: ``(clips, samples)`` waveforms at the model's rate, or audio files /
            folders (:func:`calibration_from_files`); default :func:`synthetic_calibration`. Every
            clip must be at least ``model.info.min_samples`` long.
        batch_size: calibration clips per forward pass.
        channels_last: store the float convolutions that remain channels-last.

    With 0 blocks the returned model is the unmodified copy. Needs ``torchao`` (the ``int8`` extra).
    """
    quantizer = int8_quantizer()
    m = copy.deepcopy(model).eval()
    blocks = []
    for parent in list(m.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, ConvBlock):
                q = Int8ConvBlock(child).eval()
                if not q.num_int8_convs:  # e.g. a one-conv block reading the spectrogram
                    continue
                setattr(parent, name, q)
                blocks.append(q)
    if channels_last:
        m = m.to(memory_format=torch.channels_last)
    if not blocks:
        return m, 0
    seconds = max(5.0, m.info.min_samples / m.sample_rate)
    if calibration is None:
        warnings.warn(
            "int8: activation ranges calibrated on built-in synthetic audio; with trained weights this "
            "moved probabilities by up to 0.27 where calibrating on the audio being processed moved them "
            "by 0.03 (docs/inference.md): pass calibration=<clips or files like yours>",
            stacklevel=3,
        )
        calibration = synthetic_calibration(m.sample_rate, seconds=seconds)
    elif isinstance(calibration, (str, list, tuple)) or hasattr(calibration, "__fspath__"):
        if isinstance(calibration, (list, tuple)) and calibration and not isinstance(calibration[0], (str, bytes)) and not hasattr(calibration[0], "__fspath__"):
            calibration = np.stack([np.asarray(c, dtype=np.float32) for c in calibration])
        else:
            calibration = calibration_from_files(calibration, m.sample_rate, seconds=seconds)
    calib = torch.as_tensor(np.asarray(calibration, dtype=np.float32))
    if calib.dim() != 2 or calib.shape[1] < m.info.min_samples:
        raise ValueError(f"calibration must be (clips, samples) with samples >= {m.info.min_samples}, got shape {tuple(calib.shape)}")
    for q in blocks:
        q.observe(quantizer)
    with torch.no_grad():  # not inference_mode: the blocks are captured by torch.export on the first batch
        for s in range(0, calib.shape[0], batch_size):
            m(calib[s : s + batch_size])
    for q in blocks:
        q.convert()
    log.debug("int8: %d conv blocks quantised (PT2E, oneDNN), calibrated on %d clips", len(blocks), calib.shape[0])
    return m, len(blocks)
