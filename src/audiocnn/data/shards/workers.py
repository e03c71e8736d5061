"""What a data-loader worker of packed shards runs when it starts, kept in a module that imports
only numpy and torch: a worker started from a fresh interpreter (spawn) imports the module of its
``worker_init_fn``, and Lightning's own (``pl_worker_init_function``) would import Lightning in
every worker."""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["seed_worker"]


def seed_worker(worker_id: int) -> None:
    """Seed numpy's and Python's global generators from the worker's torch seed (which the
    DataLoader derives from its base seed and ``worker_id``), as Lightning's worker init does.
    The shard readers draw their own randomness from ``(seed, epoch, ...)``; this covers code
    that uses the global generators."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
