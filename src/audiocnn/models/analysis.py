"""Size and cost of the registered models: trainable parameters and multiply-accumulates.

How operations are counted (see docs/models.md):

- one multiply-accumulate (MAC) per weight use in ``Conv1d``, ``Conv2d`` and ``Linear`` layers,
  measured with forward hooks on a clip of ``seconds`` seconds (batch of one). Grouped and
  depthwise convolutions count ``in_channels / groups`` MACs per output value; a ``Linear`` on a
  sequence counts every frame. Biases, BatchNorm, activations and pooling are not counted.
- the log-mel front-end computes its STFT with an FFT, but PANNs (torchlibrosa) computes it as
  a ``Conv1d`` with a fixed DFT kernel, and the paper's figures include that convolution. For a
  like-for-like comparison we count every mel front-end as that convolution:
  ``2 * (n_fft / 2 + 1) * n_fft`` MACs per frame (real and imaginary kernels). It is reported
  separately as ``frontend_macs`` and included in ``macs``. The mel matrix product is not counted
  (PANNs does not count it either; it is < 0.2 % of any model here).
- the PANNs paper reports "multi-adds" from its ``count_flops``, which counts a multiply and an
  add separately (2 per MAC) and adds BatchNorm/ReLU/pooling element counts; so the paper's
  number is about ``2 * macs`` (see :attr:`ModelStats.paper_style_gflops`).

The forward pass runs on PyTorch's ``meta`` device (shapes only, no arithmetic), so counting even
the largest model takes well under a second once built; results are cached on disk by model
name, audiocnn version and a hash of the model family's source file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audiocnn.atomic import write_text_atomic
from audiocnn.models._registry import get_model_builder, list_models, model_family

__all__ = ["ModelStats", "count_macs", "count_parameters", "default_cache_path", "model_stats", "time_inference", "zoo_stats"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelStats:
    """What ``audiocnn models`` prints for one model.

    ``macs`` is the total per clip of ``seconds`` seconds (front-end STFT included, counted as the
    DFT convolution of the original PANNs code); ``frontend_macs`` is that STFT part.
    """

    name: str
    family: str
    input: str
    sample_rate: int
    params: int
    macs: int
    frontend_macs: int
    frame_level: bool
    seconds: float
    embedding_dim: int
    checkpoint_class: str | None

    @property
    def paper_style_gflops(self) -> float:
        """``2 * macs`` in G: comparable with the "multi-adds" of the PANNs paper."""
        return 2 * self.macs / 1e9

    def to_dict(self) -> dict:
        return asdict(self)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (the fixed mel matrix and STFT window are buffers)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _frontend_hops(m: nn.Module) -> list[int] | None:
    """Hop lengths of a mel front-end module (one per resolution), or None if ``m`` is not one."""
    if not (hasattr(m, "n_fft") and hasattr(m, "melW")):
        return None
    hops = getattr(m, "hop_lengths", None) or ([m.hop_length] if hasattr(m, "hop_length") else None)
    return [int(h) for h in hops] if hops else None


def count_macs(model: nn.Module, num_samples: int) -> tuple[int, int]:
    """``(total, frontend)`` multiply-accumulates of one forward pass on ``(1, num_samples)``.

    The input lives on the model's device; on the ``meta`` device nothing is computed.
    """
    layer_macs = 0
    frontend_macs = 0

    def layer_hook(mod: nn.Module, inp, out) -> None:
        nonlocal layer_macs
        if isinstance(mod, nn.Linear):
            layer_macs += out.numel() * mod.in_features
        else:  # Conv1d / Conv2d: every output value costs (in / groups) * kernel MACs
            k = 1
            for s in mod.kernel_size:
                k *= s
            layer_macs += out.numel() * (mod.in_channels // mod.groups) * k

    def frontend_hook(mod: nn.Module, inp, out) -> None:
        nonlocal frontend_macs
        batch, samples = inp[0].shape[0], inp[0].shape[-1]
        for hop in _frontend_hops(mod):  # centred frames: 1 + samples // hop
            frontend_macs += batch * (1 + samples // hop) * 2 * (mod.n_fft // 2 + 1) * mod.n_fft

    handles = []
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            handles.append(m.register_forward_hook(layer_hook))
        elif _frontend_hops(m) is not None:
            handles.append(m.register_forward_hook(frontend_hook))
    device = next(iter(model.parameters())).device
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, num_samples, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return layer_macs + frontend_macs, frontend_macs


def _build_for_counting(name: str) -> nn.Module:
    """The model on the ``meta`` device (no memory; the forward pass only propagates shapes).
    Built there directly when possible (no initialisation cost), else built on the CPU and moved."""
    builder = get_model_builder(name)
    try:
        with torch.device("meta"):
            model = builder(num_classes=527)
    except Exception as e:  # a builder that needs real values (e.g. Tensor.item())
        log.debug("%s: cannot build on the meta device (%s); building on the CPU", name, e)
        model = builder(num_classes=527)
    return model.to("meta")


def _measure(name: str, seconds: float) -> ModelStats:
    model = _build_for_counting(name)
    info = model.info
    num_samples = max(int(round(seconds * info.sample_rate)), info.min_samples)
    try:
        macs, frontend = count_macs(model, num_samples)
    except (RuntimeError, NotImplementedError) as e:
        if next(iter(model.parameters())).device.type != "meta":
            raise
        log.debug("%s: meta forward failed (%s); counting on the CPU", name, e)
        model = get_model_builder(name)(num_classes=527)
        macs, frontend = count_macs(model, num_samples)
    return ModelStats(
        name=name,
        family=model_family(name),
        input=info.input,
        sample_rate=info.sample_rate,
        params=count_parameters(model),
        macs=int(macs),
        frontend_macs=int(frontend),
        frame_level=bool(info.frame_level),
        seconds=float(seconds),
        embedding_dim=int(info.embedding_dim),
        checkpoint_class=info.checkpoint_class,
    )


def time_inference(name: str, seconds: float, repeats: int = 5, batch: int = 1) -> float:
    """Median wall milliseconds of one eval-mode forward pass (``torch.inference_mode``, fp32,
    the current ``torch.get_num_threads()``) of ``name`` with random weights on ``batch`` random
    clips of ``seconds`` (at least the model's minimum length), after one warm-up pass. A
    machine-dependent figure: never cached."""
    import time

    from audiocnn.models import create_model

    model = create_model(name).eval()
    n = max(int(round(seconds * model.sample_rate)), model.info.min_samples)
    x = torch.randn(batch, n, generator=torch.Generator().manual_seed(0)) * 0.1
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times))


# -- cache -------------------------------------------------------------------------------------


def default_cache_path() -> Path:
    """``$AUDIOCNN_CACHE_DIR/model_stats.json``, else ``$XDG_CACHE_HOME/audiocnn/...``, else
    ``~/.cache/audiocnn/model_stats.json``."""
    root = os.environ.get("AUDIOCNN_CACHE_DIR")
    if root:
        return Path(root) / "model_stats.json"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "audiocnn" / "model_stats.json"


def _source_fingerprint(name: str) -> str:
    """audiocnn version + hash of the family module and the shared layers: a change of either
    invalidates the cached figures."""
    from audiocnn import __version__

    h = hashlib.sha1(__version__.encode())
    module = sys.modules.get(get_model_builder(name).__module__)
    files = [getattr(module, "__file__", None)]
    files += [str(Path(__file__).with_name(f)) for f in ("layers.py", "base.py")]
    for f in files:
        if f and os.path.exists(f):
            h.update(Path(f).read_bytes())
    return h.hexdigest()[:16]


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(path: Path, data: dict) -> None:
    try:
        write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True))
    except OSError as e:  # a read-only home must not break the command
        log.warning("cannot write the model stats cache %s: %s", path, e)


def model_stats(name: str, seconds: float = 10.0, cache: str | os.PathLike | None | bool = True) -> ModelStats:
    """Parameters and MACs of the registered model ``name`` for a clip of ``seconds`` seconds.

    Args:
        cache: ``True`` for :func:`default_cache_path`, a path, or ``False``/``None`` for no cache.
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    path = default_cache_path() if cache is True else (Path(cache) if cache else None)
    key = f"{name}@{seconds:g}s"
    fingerprint = _source_fingerprint(name)
    if path is not None:
        entry = _read_cache(path).get(key)
        if isinstance(entry, dict) and entry.get("fingerprint") == fingerprint:
            try:
                return ModelStats(**entry["stats"])
            except TypeError:
                pass  # written by another version of this module: recompute
    stats = _measure(name, seconds)
    if path is not None:
        data = _read_cache(path)  # re-read: another process may have added entries
        data[key] = {"fingerprint": fingerprint, "stats": stats.to_dict()}
        _write_cache(path, data)
    return stats


def zoo_stats(pattern: str | None = None, seconds: float = 10.0, include_test: bool = False, cache=True):
    """:class:`ModelStats` of every model matching ``pattern``, as an iterator that computes them
    lazily, one at a time. Raises ``ValueError`` at once if nothing matches."""
    names = list_models(pattern, include_test=include_test)
    if not names:
        raise ValueError(f"no model matches {pattern!r} (see `audiocnn models` for the list)")
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    return (model_stats(name, seconds=seconds, cache=cache) for name in names)
