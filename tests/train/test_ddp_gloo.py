"""Two CPU processes (gloo) launched by recipes/torchrun.sh train like one process with the same
global batch: the same global batches (tests/data/test_shards_stream.py checks that exactly), so
the same loss curve up to BatchNorm, whose batch statistics come from 4 clips per process
instead of 8 (torch's SyncBatchNorm, which removes that difference, runs on GPUs only)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audiocnn.data.shards import PackOptions, SyntheticSource, pack
from audiocnn.models import create_model

REPO = Path(__file__).resolve().parents[2]
ARGS = ["--model-arg", "conv_dropout=0.0", "--model-arg", "fc_dropout=0.0", "--model-arg", "spec_augment=False",
        "--epochs", "2", "--clip-seconds", "0.4", "--lr", "3e-3", "--shard-split", "samples", "--val-fraction", "0.1", "--threads", "1"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _steps(out: Path) -> np.ndarray:
    return np.array(json.loads((out / "train_steps.json").read_text())["loss"])


@pytest.mark.slow
def test_two_gloo_processes_match_one_with_the_same_global_batch(tmp_path):
    rate = create_model("test_cnn", num_classes=2).sample_rate
    pack(SyntheticSource(112, seconds=0.5, num_classes=4, seed=4), tmp_path / "shards", PackOptions(sample_rate=rate, shard_size=16), progress=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    one = subprocess.run([sys.executable, "-m", "audiocnn.cli", "train", "--data", str(tmp_path / "shards"), "--model", "test_cnn",
                          "--batch-size", "8", "--out", str(tmp_path / "one"), "--no-progress", *ARGS],
                         capture_output=True, text=True, env=env, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    recipe = {**env, "DATA": str(tmp_path / "shards"), "OUT": str(tmp_path / "two"), "MODEL": "test_cnn", "NPROC_PER_NODE": "2",
              "ACCELERATOR": "cpu", "SYNC_BATCHNORM": "0", "BATCH_SIZE": "4", "EPOCHS": "2", "WORKERS": "0", "CHECKPOINT_EVERY": "0",
              "MASTER_PORT": str(_port()), "PYTHON": sys.executable}
    two = subprocess.run(["bash", str(REPO / "recipes" / "torchrun.sh"), *ARGS], capture_output=True, text=True, env=recipe, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("model:") == 1  # rank 0 reports
    a, b = _steps(tmp_path / "one"), _steps(tmp_path / "two")
    assert len(a) == len(b) == 2 * (96 // 8)  # 7 shards, one held out for validation
    assert np.abs(a - b).max() < 0.15 and np.abs(a - b).mean() < 0.03  # measured: 0.047 and 0.010
    assert abs(a[12:].mean() - b[12:].mean()) < 0.03 and a[12:].mean() < a[:12].mean() - 0.1  # both learn
    ra = json.loads((tmp_path / "one" / "run.json").read_text())
    rb = json.loads((tmp_path / "two" / "run.json").read_text())
    assert rb["world_size"] == 2 and ra["world_size"] == 1
    for ha, hb in zip(ra["history"], rb["history"]):
        assert hb["val_loss"] == pytest.approx(ha["val_loss"], abs=0.03)
        assert hb["val_metric"] == pytest.approx(ha["val_metric"], abs=0.05)
