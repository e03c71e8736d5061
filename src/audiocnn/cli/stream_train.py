"""``audiocnn train --data <packed folder>``: the streaming path of ``audiocnn train``.

When ``--data`` is a folder written by ``audiocnn pack``, ``train`` fits one model on the
packed shards (no k-fold protocol: the corpus is too large to hold or to train k times),
validating on held-out shards (:func:`audiocnn.evaluate.runner.run_training`). The options
below only apply to that path.
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "stream_options"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The streaming options of ``audiocnn train`` (used when ``--data`` is a packed folder)."""
    g = p.add_argument_group("packed data (--data is a folder written by `audiocnn pack`; docs/scaling.md)")
    g.add_argument("--shuffle-buffer", type=int, default=512, metavar="CLIPS",
                   help="encoded clips each process holds for shuffling, split among its --num-workers loader workers "
                        "(memory ~ CLIPS x packed clip size, whatever the workers; default 512)")
    g.add_argument("--val-data", default=None, help="a packed folder to validate on (default: --val-fraction of the shards)")
    g.add_argument("--checkpoint-every", type=int, default=0, metavar="STEPS",
                   help="also write lightning/last.ckpt every STEPS steps, for --resume mid-epoch (default: epoch ends)")
    g.add_argument("--sync-batchnorm", action="store_true", help="DDP: BatchNorm statistics over the global batch")
    g.add_argument("--num-nodes", type=int, default=1, help="machines taking part (Lightning num_nodes; default 1)")
    g.add_argument("--shard-split", choices=("auto", "shards", "samples"), default="auto",
                   help="how readers share tar shards: whole shards (auto when there are enough), or clips of every shard")


def stream_options(args):
    """The :class:`~audiocnn.train.stream.StreamOptions` of the parsed flags."""
    from audiocnn.train.stream import StreamOptions

    return StreamOptions(shuffle_buffer=args.shuffle_buffer, split=args.shard_split, val_data=args.val_data,
                         checkpoint_every=args.checkpoint_every, sync_batchnorm=args.sync_batchnorm, num_nodes=args.num_nodes)
