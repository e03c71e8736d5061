"""Random-weight CNN embeddings (Pons & Serra 2019) and the front-end x back-end study.

A front-end is any registered model. With ``seed`` set, its weights are redrawn He-normal
(fan-in, ReLU gain) with zero biases from that seed and never trained; with a ``checkpoint``
its trained weights are used as they are. The embedding of a clip is the time-average
(optionally also the max and the standard deviation) of every feature map of every layer,
concatenated:

- models with a ``features(waveform) -> list of maps`` method (the ``pons_*`` family) give
  their maps directly;
- with a ``checkpoint`` (a trained model) the embedding is the model's own ``"embedding"``
  output;
- other models are read with forward hooks on their convolutional blocks (the direct
  sub-modules that contain a convolution, e.g. ``conv_block1..6`` of Cnn14).

``"mfcc"`` is the baseline front-end (20 MFCCs + deltas + delta-deltas, mean and std; see
:mod:`audiocnn.backends.mfcc`), computed on the unpadded clip.

Extraction streams the data in batches (memory: one batch of audio and one of feature maps, plus
the ``(n_items, dim)`` result) with a progress bar, and caches each result on disk as ``.npz``
keyed by (front-end, seed, data fingerprint, settings).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from audiocnn.audio import AudioLoadError, crop_or_pad, load_audio
from audiocnn.atomic import write_with
from audiocnn.backends.mfcc import MFCC, mfcc_stats
from audiocnn.models import create_model, list_models
from audiocnn.models.pons import he_init_

__all__ = [
    "EmbeddingResult",
    "STATS",
    "data_fingerprint",
    "embed_paths",
    "feature_maps",
    "load_frontend",
    "pool_maps",
    "pons_frontends",
    "random_init_",
]

log = logging.getLogger(__name__)

STATS = ("mean", "max", "std")
CACHE_VERSION = 1


def pons_frontends() -> list[str]:
    """The registered front-ends of the study (``pons_*``)."""
    return list_models("pons_*")


def random_init_(model: nn.Module, seed: int) -> nn.Module:
    """Redraw every conv / linear weight He-normal with zero biases, reproducibly from ``seed``
    (the global torch RNG state is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        he_init_(model)
    return model


def load_frontend(name: str, seed: int | None = 0, checkpoint: str | os.PathLike | None = None, **overrides) -> nn.Module:
    """A registered model in eval mode: random weights from ``seed`` or, with ``checkpoint``,
    the trained weights (``seed`` ignored)."""
    if checkpoint is not None:
        return create_model(name, checkpoint=checkpoint, **overrides).eval()
    model = create_model(name, num_classes=2, **overrides)
    if seed is None:
        raise ValueError("a random-weight front-end needs a seed (or give a checkpoint)")
    return random_init_(model, seed).eval()


def _hook_modules(model: nn.Module) -> list[nn.Module]:
    """Direct sub-modules that contain a convolution (descending into plain containers)."""
    convs = (nn.Conv1d, nn.Conv2d)
    out = []

    def visit(mod: nn.Module):
        for child in mod.children():
            if isinstance(child, (nn.ModuleList, nn.Sequential, nn.ModuleDict)):
                visit(child)
            elif isinstance(child, convs) or any(isinstance(m, convs) for m in child.modules()):
                out.append(child)

    visit(model)
    return out


def feature_maps(model: nn.Module, waveform: torch.Tensor) -> list[torch.Tensor]:
    """Every feature map of ``model`` on ``waveform`` ``(batch, samples)``: a list of
    ``(batch, channels, ...)`` tensors."""
    if hasattr(model, "features"):
        return list(model.features(waveform))
    maps: list[torch.Tensor] = []
    handles = [
        m.register_forward_hook(lambda _m, _i, o: maps.append(o) if isinstance(o, torch.Tensor) and o.dim() >= 3 else None)
        for m in _hook_modules(model)
    ]
    try:
        model(waveform)
    finally:
        for h in handles:
            h.remove()
    if not maps:
        raise ValueError(f"{type(model).__name__}: found no convolutional feature maps to pool")
    return maps


def pool_maps(maps: Sequence[torch.Tensor], stats: Sequence[str] = ("mean",)) -> torch.Tensor:
    """Pool every map over all its non-channel axes (time, and frequency for 2-D maps):
    ``[stat_1 of every map, stat_2 of every map, ...]`` -> ``(batch, len(stats) * sum channels)``."""
    bad = [s for s in stats if s not in STATS]
    if bad or not stats:
        raise ValueError(f"stats must be a non-empty subset of {STATS}, got {list(stats)}")
    flat = [m.flatten(2) for m in maps]
    parts = []
    for s in stats:
        for f in flat:
            if s == "mean":
                parts.append(f.mean(dim=2))
            elif s == "max":
                parts.append(f.amax(dim=2))
            else:
                parts.append(f.std(dim=2, unbiased=False))
    return torch.cat(parts, dim=1)


def data_fingerprint(paths: Sequence[str | os.PathLike]) -> str:
    """Hash of the ordered file list with each file's size and modification time."""
    h = hashlib.sha1()
    for p in paths:
        st = os.stat(p)
        h.update(f"{os.path.abspath(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _file_digest(path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class EmbeddingResult:
    X: np.ndarray  # (n_items, dim) float32
    frontend: str
    seed: int | None
    extract_seconds: float  # time of the extraction that produced X (also when read from cache)
    cached: bool
    settings: dict = field(default_factory=dict)
    cache_path: Path | None = None

    @property
    def dim(self) -> int:
        return int(self.X.shape[1])


def _batches(paths, load: Callable[[Path], np.ndarray], batch_size: int, clip_samples: int, pad: bool) -> Iterator[list[np.ndarray]]:
    batch, bad = [], []
    for p in paths:
        try:
            x = load(Path(p))
        except AudioLoadError as e:
            bad.append(str(e))
            continue
        batch.append(crop_or_pad(x, clip_samples, "center") if pad else x[:clip_samples] if len(x) > clip_samples else x)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
    if bad:
        raise ValueError(f"{len(bad)} file(s) could not be read (use validate_manifest / --skip-bad first):\n  " + "\n  ".join(bad))


def _default_loader(sample_rate: int) -> Callable[[Path], np.ndarray]:
    try:
        from audiocnn.data import AudioCache
    except ImportError:  # the data layer is optional for this module
        return lambda p: load_audio(p, sample_rate=sample_rate)[0]
    return AudioCache(sample_rate).get


def embed_paths(
    paths: Sequence[str | os.PathLike],
    frontend: str,
    *,
    seed: int | None = 0,
    checkpoint: str | os.PathLike | None = None,
    clip_seconds: float = 1.0,
    stats: Sequence[str] = ("mean",),
    batch_size: int = 16,
    cache_dir: str | os.PathLike | None = None,
    load: Callable[[Path], np.ndarray] | None = None,
    progress: bool = True,
    overrides: dict | None = None,
) -> EmbeddingResult:
    """Embed every file of ``paths`` (in order) with ``frontend``.

    Args:
        paths: audio files; all are decoded at the front-end's sample rate.
        frontend: a registered model name, or ``"mfcc"`` for the MFCC baseline.
        seed: random weights from this seed (ignored with ``checkpoint`` and for ``"mfcc"``).
        checkpoint: use this trained model's weights instead of random ones.
        clip_seconds: clips are centre-cropped / zero-padded to this length (CNNs; the MFCC
            baseline is only cropped).
        stats: pooling statistics over time, a subset of ``("mean", "max", "std")``.
        cache_dir: if given, results are stored/reused as ``.npz`` there.
        load: ``path -> mono float32 waveform at the front-end's rate`` (default: the data
            layer's :class:`~audiocnn.data.AudioCache`, which decodes each file once).
        overrides: architecture arguments for the model (``sample_rate``, ``dim``, ``n_mels``...).
    Returns:
        :class:`EmbeddingResult` with ``X`` ``(len(paths), dim)``.
    """
    overrides = dict(overrides or {})
    is_mfcc = frontend == "mfcc"
    if is_mfcc:
        extractor = MFCC(sample_rate=int(overrides.pop("sample_rate", 16000)), **overrides).eval()
        sample_rate, min_samples, seed = extractor.sample_rate, extractor.min_samples, None
    else:
        extractor = load_frontend(frontend, None if checkpoint else seed, checkpoint, **overrides)
        sample_rate, min_samples = extractor.sample_rate, extractor.info.min_samples
        if checkpoint is not None:
            seed = None
    clip_samples = max(int(round(clip_seconds * sample_rate)), min_samples)
    settings = {
        "version": CACHE_VERSION,
        "frontend": frontend,
        "seed": seed,
        "checkpoint": _file_digest(checkpoint) if checkpoint else None,
        "sample_rate": sample_rate,
        "clip_samples": clip_samples,
        "stats": list(stats),
        "overrides": {k: overrides[k] for k in sorted(overrides)},
        "data": data_fingerprint(paths),
        "n": len(paths),
    }
    key = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]
    cache_path = None
    if cache_dir is not None:
        cache_path = Path(cache_dir) / f"{frontend}-{'ckpt' if checkpoint else f'seed{seed}'}-{key}.npz"
        if cache_path.exists():
            with np.load(cache_path) as z:
                log.info("embeddings from cache %s", cache_path)
                return EmbeddingResult(z["X"], frontend, seed, float(z["extract_seconds"]), True, settings, cache_path)

    load = load or _default_loader(sample_rate)
    X = None
    row = 0
    t0 = time.perf_counter()
    bar = tqdm(total=len(paths), desc=f"{frontend}" + (f" seed {seed}" if seed is not None else ""), unit="clip", disable=None if progress else True, leave=False)  # None: terminals only
    with torch.inference_mode():
        for batch in _batches(paths, load, batch_size, clip_samples, pad=not is_mfcc):
            if is_mfcc:  # variable lengths: one clip at a time (cheap)
                emb = torch.cat([mfcc_stats(extractor(torch.from_numpy(np.array(_at_least(x, min_samples)))[None])) for x in batch])
            elif checkpoint is not None:  # a trained model: its own embedding output
                emb = extractor(torch.from_numpy(np.stack(batch)))["embedding"]
            else:
                emb = pool_maps(feature_maps(extractor, torch.from_numpy(np.stack(batch))), stats)
            if X is None:
                X = np.empty((len(paths), emb.shape[1]), dtype=np.float32)
            X[row : row + len(batch)] = emb.numpy()
            row += len(batch)
            bar.update(len(batch))
    bar.close()
    seconds = time.perf_counter() - t0
    if X is None:
        raise ValueError("no audio files to embed")
    if cache_path is not None:
        # atomic: an interrupted run leaves no half-written cache
        write_with(cache_path, lambda tmp: np.savez(tmp, X=X, extract_seconds=seconds, settings=json.dumps(settings, default=str)))
    return EmbeddingResult(X, frontend, seed, seconds, False, settings, cache_path)


def _at_least(x: np.ndarray, n: int) -> np.ndarray:
    return x if len(x) >= n else np.pad(x, (0, n - len(x)))
