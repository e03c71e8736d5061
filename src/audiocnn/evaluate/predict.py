"""Clip-level scores for every file of a manifest, through the model's windowing, and the
test-time adaptations that re-estimate a model on the unlabelled audio being scored."""

from __future__ import annotations

import numpy as np
import torch

from audiocnn.audio import Windowing, apply_windowed, windows_of
from audiocnn.data.csvio import write_csv
from audiocnn.models.base import AudioModel
from audiocnn.models.bundle import apply_activation

__all__ = [
    "adapt_batchnorm",
    "adapt_information_maximization",
    "information_maximization_loss",
    "predict_manifest",
    "windowed_inputs",
    "write_predictions",
]


def windowed_inputs(manifest, cache, sample_rate: int, windowing: Windowing, min_samples: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Every window the evaluation scores, ``(n, window samples)``, and the item each came from
    (the windows of :meth:`Windowing.split`; files shorter than a window are zero-padded to it,
    also under ``pad_short=False``, to stack them in one array)."""
    window, hop = windowing.sizes(sample_rate, min_samples)
    chunks, owners = [], []
    for i, item in enumerate(manifest.items):
        w = [x for _, x in windows_of(cache.get(item.path), window, hop, pad_short=True)]
        chunks.extend(w)
        owners.extend([i] * len(w))
    flat = np.stack(chunks).astype(np.float32, copy=False) if chunks else np.zeros((0, window), np.float32)
    return flat, np.asarray(owners, dtype=np.int64)


def _batchnorms(model: torch.nn.Module) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def adapt_batchnorm(
    model: AudioModel,
    manifest,
    cache,
    windowing: Windowing,
    *,
    batch_size: int = 64,
) -> AudioModel:
    """Test-time BatchNorm adaptation ("AdaBN", Li et al. 2016): a copy of ``model`` whose
    BatchNorm statistics are re-estimated on the audio of ``manifest`` -- the same windows the
    evaluation scores, **no labels** -- and nothing else changed.

    This is *transductive*: it needs a batch of unlabelled recordings of the new condition
    (a test speaker, a new microphone) before predicting, so its scores are reported apart
    from the plain ones. Dropout and SpecAugment stay off (only the BatchNorm layers run in
    training mode, with a cumulative average over all batches).
    """
    import copy

    adapted = copy.deepcopy(model).eval()
    bns = [m for m in _batchnorms(adapted) if m.track_running_stats]
    if not bns:
        return adapted
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch counts equally
        m.train()
    flat, _ = windowed_inputs(manifest, cache, adapted.sample_rate, windowing, adapted.info.min_samples)
    # nearly equal batches, so that no batch is a lone clip (BatchNorm1d cannot train on one)
    for part in np.array_split(flat, max(1, -(-len(flat) // batch_size))):
        if len(part):
            adapted(torch.from_numpy(np.ascontiguousarray(part)))
    return adapted.eval()


def adapt_information_maximization(
    model: AudioModel,
    manifest,
    cache,
    windowing: Windowing,
    *,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 50,
    seed: int = 0,
) -> AudioModel:
    """Test-time adaptation by information maximisation (the objective of SHOT, Liang et al.
    2020, here on the BatchNorm affine parameters only, as TENT, Wang et al. 2021, does): a copy
    of ``model`` -- normally already :func:`adapt_batchnorm`-ed -- whose BatchNorm weights and
    biases are trained for ``epochs`` passes (Adam, ``lr``) over the unlabelled crops of
    ``manifest`` to make each prediction confident (low entropy) while keeping the predictions
    as a whole spread over the classes (high entropy of their mean). Every other weight, and the
    BatchNorm statistics, stay as they are; dropout and SpecAugment stay off.

    Transductive, and **assumes the audio being scored covers the classes roughly evenly** (the
    diversity term pushes towards that): true of a test speaker saying every digit, not of a
    recording where one class dominates. Single-label classifiers only. Every window counts
    once, so long files weigh more. The settings are the defaults chosen before any
    measurement (docs/training.md), not tuned on test folds.
    """
    import copy

    adapted = copy.deepcopy(model).eval()
    bn_params = [p for m in _batchnorms(adapted) if m.affine for p in (m.weight, m.bias)]
    if not bn_params:
        return adapted
    for p in adapted.parameters():
        p.requires_grad_(False)
    for p in bn_params:
        p.requires_grad_(True)
    flat, _ = windowed_inputs(manifest, cache, adapted.sample_rate, windowing, adapted.info.min_samples)
    x = torch.from_numpy(np.ascontiguousarray(flat))
    opt = torch.optim.Adam(bn_params, lr=lr)
    g = torch.Generator().manual_seed(seed)
    n_batches = max(1, -(-len(x) // batch_size))
    with torch.enable_grad():
        for _ in range(epochs):
            # nearly equal batches: no trailing batch of one or two clips, whose "use every
            # class" term would mean nothing
            for idx in torch.tensor_split(torch.randperm(len(x), generator=g), n_batches):
                loss = information_maximization_loss(adapted(x[idx])["logits"].float())
                opt.zero_grad()
                loss.backward()
                opt.step()
    opt.zero_grad(set_to_none=True)
    for p in adapted.parameters():
        p.requires_grad_(False)
    return adapted.eval()


def information_maximization_loss(logits: torch.Tensor) -> torch.Tensor:
    """Mean entropy of the softmax predictions minus the entropy of their mean (SHOT's objective):
    low when every prediction is confident and the classes are used evenly."""
    p = torch.softmax(logits, dim=-1)
    log_p = torch.log_softmax(logits, dim=-1)
    mean_entropy = -(p * log_p).sum(-1).mean()
    m = p.mean(0)
    return mean_entropy + (m * torch.log(m + 1e-8)).sum()


@torch.no_grad()
def predict_manifest(
    model: AudioModel,
    manifest,
    cache,
    windowing: Windowing,
    *,
    activation: str = "softmax",
    batch_size: int = 32,
) -> np.ndarray:
    """Probabilities ``(len(manifest.items), classes)`` of every item: the model's window
    probabilities (``activation`` of its logits) combined per file by the windowing's aggregation.

    This is the computation :class:`~audiocnn.inference.tagger.Tagger` makes on the same files
    (both call :func:`audiocnn.audio.apply_windowed`), so a fold's evaluation and the tagging of
    its files afterwards agree.
    """
    model.eval()
    if not manifest.items:
        return np.zeros((0, model.num_classes), dtype=np.float32)
    window, hop = windowing.sizes(model.sample_rate, model.info.min_samples)

    def probs(batch: np.ndarray) -> np.ndarray:
        return apply_activation(model(torch.from_numpy(batch))["logits"], activation).numpy()

    waves = [cache.get(item.path) for item in manifest.items]
    return apply_windowed(probs, waves, window, hop, pad_short=windowing.pad_short, how=windowing.aggregate,
                          batch_size=batch_size, min_length=model.info.min_samples)


def write_predictions(path, manifest, probs: np.ndarray, *, multilabel: bool = False, threshold: float = 0.5):
    """Write one CSV row per item of ``manifest``: ``path, label, predicted`` and the score of every
    class (``p_<class>``), ``probs`` being ``(n_items, n_classes)`` in the manifest's class order.

    ``label``/``predicted`` join several labels with ``;`` for tagging data, where a class is
    predicted when its score is at least ``threshold``; single-label data predicts the arg-max.
    The file is written atomically.
    """
    probs = np.asarray(probs, dtype=np.float64)
    classes = list(manifest.classes)
    if probs.shape != (len(manifest.items), len(classes)):
        raise ValueError(f"probs has shape {probs.shape}; expected ({len(manifest.items)}, {len(classes)})")

    def row(item, p):
        if multilabel:
            predicted = ";".join(c for c, v in zip(classes, p) if v >= threshold)
        else:
            predicted = classes[int(p.argmax())]
        return [str(item.path), ";".join(item.labels), predicted, *[f"{v:.6g}" for v in p]]

    write_csv(path, ["path", "label", "predicted", *[f"p_{c}" for c in classes]],
              (row(item, p) for item, p in zip(manifest.items, probs)))
