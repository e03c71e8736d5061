"""Scoring a model on packed shards with the streaming metrics of
:mod:`audiocnn.streaming_metrics` (no all-clips score matrix held)."""

from __future__ import annotations

import numpy as np

from audiocnn.streaming_metrics import StreamingAccuracy, StreamingTaggingMetrics

__all__ = ["StreamingAccuracy", "StreamingTaggingMetrics", "evaluate_packed"]


def evaluate_packed(model, data, *, batch_size: int = 32, clip_seconds: float | None = None, num_workers: int = 0,
                    bins: int = 4096, shards=None) -> dict:
    """Score ``model`` (an :class:`~audiocnn.models.base.AudioModel`) on a packed folder
    (``audiocnn pack``) with the streaming metrics: multi-label data gives ``mAP``, ``auc``,
    ``d_prime``; single-label data ``accuracy``; both give ``clips``.

    Under torch.distributed each rank scores its own part of the clips (no overlap) and the
    result is summed over the ranks, so every rank returns the same metrics. Clips are cut to
    ``clip_seconds`` around their centre (default: the packed HDF5 length, else 10 s).
    """
    import torch
    import torch.distributed as dist

    from audiocnn.data.shards import PackedClipDataset, ShardStream, load_index

    index = load_index(data)
    if int(model.sample_rate) != int(index.sample_rate):
        raise ValueError(f"{data}: packed at {index.sample_rate} Hz, the model takes {model.sample_rate} Hz")
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() else (0, 1)
    clip = clip_seconds or index.clip_seconds or 10.0
    if index.format == "tar":
        ds = ShardStream(index, clip, batch_size, train=False, shards=shards, num_workers=num_workers, rank=rank, world_size=world)
        loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=num_workers)
    else:
        ds = PackedClipDataset(index, clip, train=False, shards=shards)
        loader = torch.utils.data.DataLoader(torch.utils.data.Subset(ds, range(rank, len(ds), world)), batch_size=batch_size,
                                             num_workers=num_workers)
    hist = StreamingTaggingMetrics(len(index.classes), bins=bins) if index.multilabel else None
    acc = StreamingAccuracy()
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for x, y in loader:
                logits = model(x)["logits"].float()
                if hist is not None:
                    hist.update(y.numpy(), torch.sigmoid(logits).numpy())
                    acc.update(np.zeros(len(y)), np.zeros(len(y)))
                else:
                    acc.update(y.numpy(), logits.argmax(-1).numpy())
    finally:
        model.train(was_training)
    counts = acc.all_reduce().compute()
    if hist is None:
        return {"accuracy": counts["accuracy"], "clips": counts["clips"]}
    return hist.all_reduce().compute()
