"""The loader workers of streaming training on tar shards start lean: a fresh interpreter
(spawn) whose imports are those of the shard reader, not Lightning or scikit-learn, so that each
worker's resident memory is its reader's, not a copy of the training process's."""

import pickle
import subprocess
import sys

import pytest
from lightning.pytorch.callbacks import Callback

from audiocnn.data.shards import PackOptions, ShardStream, SyntheticSource, pack
from audiocnn.data.shards.workers import seed_worker
from audiocnn.models import create_model
from audiocnn.train import TrainConfig
from audiocnn.train.stream import TAR_WORKER_START, StreamOptions, fit_stream

HEAVY = ("lightning", "sklearn", "scipy", "pandas", "matplotlib")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    rate = create_model("test_cnn", num_classes=2).sample_rate
    return pack(SyntheticSource(24, seconds=0.5, num_classes=3, seed=2), tmp_path_factory.mktemp("p") / "tar",
                PackOptions(sample_rate=rate, shard_size=12), progress=False)


def test_a_worker_unpickling_the_reader_imports_nothing_heavy(shards, tmp_path):
    """What a spawned worker receives: the reader and its worker_init_fn, pickled."""
    (tmp_path / "job.pkl").write_bytes(pickle.dumps((ShardStream(shards, 0.4, 4, num_workers=1), seed_worker)))
    code = ("import pickle, sys; stream, init = pickle.load(open(sys.argv[1], 'rb')); init(0); next(iter(stream)); "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "job.pkl")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[]"


class _Loaders(Callback):
    def on_train_start(self, trainer, pl_module):
        dl = trainer.train_dataloader
        self.seen = (dl.multiprocessing_context, dl.worker_init_fn)


def test_training_starts_tar_readers_lean(shards, tmp_path):
    seen = _Loaders()
    cfg = TrainConfig(model="test_cnn", epochs=1, batch_size=4, progress=False, patience=0, clip_seconds=0.4, num_workers=1, val_fraction=0.0)
    fit_stream(shards.root, cfg, tmp_path / "run", StreamOptions(shuffle_buffer=8, max_steps=2), extra_callbacks=[seen])
    context, init = seen.seen
    assert TAR_WORKER_START == "spawn" and context.get_start_method() == "spawn"
    assert init is seed_worker  # not Lightning's, whose module would import Lightning in every worker
