"""``audiocnn evaluate --data <packed folder>``: scoring a checkpoint on shards written by
``audiocnn pack``, streamed (:func:`audiocnn.evaluate.streaming.evaluate_packed`): memory holds
score histograms, not the clips nor a clips x classes score matrix.

Used by ``audiocnn evaluate`` when ``--data`` is a packed folder (tar shards or HDF5).
"""

from __future__ import annotations

import json
import logging
import sys
import time

import torch

__all__ = ["UNUSED_WITH_PACKED", "aligned_to_classes", "run_packed_evaluate"]

log = logging.getLogger("audiocnn.evaluate")

# evaluate options that mean nothing for packed data: (attribute, flag)
UNUSED_WITH_PACKED = (
    ("fold", "--fold"), ("windows", "--windows"), ("adapt_bn", "--adapt-bn"), ("adapt_im", "--adapt-im"),
    ("split", "--split"), ("blacklist", "--blacklist"), ("dataset", "--dataset"), ("group_column", "--group-column"),
    ("cache_dir", "--cache-dir"), ("skip_bad", "--skip-bad"),
)


class _Reordered(torch.nn.Module):
    """A model whose logits come out in another class order (``order[j]``: the model's index of
    class ``j``)."""

    def __init__(self, model, order: list[int]):
        super().__init__()
        self.model, self.order = model, torch.as_tensor(order)
        self.sample_rate = model.sample_rate

    def forward(self, x):
        return {"logits": self.model(x)["logits"][:, self.order]}


def aligned_to_classes(model, labels, classes, where: str):
    """``model`` with its outputs in the order of ``classes`` (the packed data's), matched to its
    ``labels`` by name; a model with placeholder labels (``class_0``...) and as many outputs is
    taken in the data's order.

    Raises:
        ValueError: naming the data's classes the model does not have, or the counts.
    """
    from audiocnn.models.bundle import generic_labels

    labels, classes = list(labels), list(classes)
    if labels == classes:
        return model
    if sorted(labels) == sorted(classes):
        return _Reordered(model, [labels.index(c) for c in classes])
    if generic_labels(labels) and len(labels) == len(classes):
        log.warning("the checkpoint has no class names; its %d outputs are taken in the order of %s", len(labels), where)
        return model
    missing = [c for c in classes if c not in labels]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ValueError(f"{where}: {len(missing)} class(es) the checkpoint does not know ({shown}); "
                         f"it has {len(labels)} labels, the data {len(classes)}")
    return _Reordered(model, [labels.index(c) for c in classes])


def run_packed_evaluate(args) -> int:
    """Score ``args.checkpoint`` on the packed folder ``args.data``; print the metrics (JSON) and
    a last line saying where they are; ``--out`` gets ``metrics.json``."""
    from audiocnn.atomic import write_json_atomic
    from audiocnn.data.shards import load_index
    from audiocnn.errors import UsageError
    from audiocnn.evaluate.streaming import evaluate_packed
    from audiocnn.models import load_model

    given = [flag for attr, flag in UNUSED_WITH_PACKED if getattr(args, attr, None) not in (None, False)]
    if given:
        raise UsageError(f"{', '.join(given)}: not available when --data is a packed folder ({args.data})")
    index = load_index(args.data)
    model, bundle = load_model(args.checkpoint, args.model, warn_random=False)
    scored = aligned_to_classes(model, bundle.labels, index.classes, str(args.data))
    clip = args.clip_seconds or bundle.windowing.clip_seconds or index.clip_seconds
    t0 = time.perf_counter()
    metrics = evaluate_packed(scored, args.data, clip_seconds=clip, batch_size=getattr(args, "batch_size", None) or 32)
    result = {**metrics, "data": str(args.data), "checkpoint": str(args.checkpoint), "clip_seconds": clip,
              "task": "multi-label" if index.multilabel else "single-label", "seconds": round(time.perf_counter() - t0, 3)}
    print(json.dumps(result, indent=1))
    if args.out:
        from pathlib import Path

        path = write_json_atomic(Path(args.out) / "metrics.json", result)
        print(f"evaluate: {metrics['clips']} clip(s) scored; metrics: {path}", file=sys.stderr)
    else:
        print(f"evaluate: {metrics['clips']} clip(s) scored; metrics on stdout (--out DIR writes metrics.json)", file=sys.stderr)
    return 0
