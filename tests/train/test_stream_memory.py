"""What bounds the memory of streaming training: each process's shuffle buffer is split among its
loader workers, and the training process does not import what it does not use (its forked
workers carry its image in their resident memory)."""

import subprocess
import sys

import pytest
from lightning.pytorch.callbacks import Callback

from audiocnn.data.shards import PackOptions, SyntheticSource, pack
from audiocnn.models import create_model
from audiocnn.train import TrainConfig
from audiocnn.train.stream import StreamOptions, fit_stream, reader_buffer


def test_reader_buffer_splits_the_process_buffer():
    assert [reader_buffer(512, w) for w in (0, 1, 2, 3, 4)] == [512, 512, 256, 170, 128]
    assert reader_buffer(3, 8) == 1


class _Readers(Callback):
    def on_train_start(self, trainer, pl_module):
        self.buffer = trainer.train_dataloader.dataset.shuffle_buffer


@pytest.mark.parametrize("workers", [0, 2])
def test_training_readers_share_the_buffer(tmp_path, workers):
    rate = create_model("test_cnn", num_classes=2).sample_rate
    index = pack(SyntheticSource(24, seconds=0.5, num_classes=3, seed=2), tmp_path / "tar", PackOptions(sample_rate=rate, shard_size=12),
                 progress=False)
    seen = _Readers()
    cfg = TrainConfig(model="test_cnn", epochs=1, batch_size=4, progress=False, patience=0, clip_seconds=0.4, num_workers=workers,
                      val_fraction=0.0, max_steps=2)
    fit_stream(index.root, cfg, tmp_path / "run", StreamOptions(shuffle_buffer=8), extra_callbacks=[seen])
    assert seen.buffer == (8 if workers == 0 else 4)


def test_the_streaming_training_process_imports_no_table_or_fold_libraries():
    code = ("import sys; import audiocnn.cli.train, audiocnn.train.stream, audiocnn.data.shards; "
            "print(sorted(m for m in ('sklearn', 'pandas') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[]"


def test_freed_memory_goes_back_to_the_system():
    """What the training process does before each epoch's loader workers are forked: memory freed
    to the C allocator (a training step's activations) is returned, so the workers do not map it."""
    import numpy as np
    import psutil

    from audiocnn.train.stream import release_freed_memory

    if not sys.platform.startswith("linux"):
        pytest.skip("malloc_trim is glibc's")
    proc = psutil.Process()
    chunks = [np.ones(8000) for _ in range(4000)]  # 64 kB each, under the mmap threshold: the heap
    kept = chunks[::50]
    del chunks
    before = proc.memory_info().rss
    release_freed_memory()
    assert before - proc.memory_info().rss > 150 * 2**20  # of the ~245 MB freed
    assert len(kept) == 80


def test_each_epoch_returns_freed_memory_before_its_workers_start(tmp_path, monkeypatch):
    import audiocnn.train.stream as stream

    calls = []
    monkeypatch.setattr(stream, "release_freed_memory", lambda: calls.append(1))
    rate = create_model("test_cnn", num_classes=2).sample_rate
    index = pack(SyntheticSource(16, seconds=0.5, num_classes=3, seed=2), tmp_path / "tar", PackOptions(sample_rate=rate, shard_size=8),
                 progress=False)
    cfg = TrainConfig(model="test_cnn", epochs=3, batch_size=4, progress=False, patience=0, clip_seconds=0.4, val_fraction=0.0)
    fit_stream(index.root, cfg, tmp_path / "run", StreamOptions(shuffle_buffer=4))
    assert len(calls) == 3
