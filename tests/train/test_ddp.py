"""Distributed data parallel on CPU: two processes (gloo), launched the way a user does."""

import json
import os
import subprocess
import sys

import pytest
import torch


@pytest.mark.slow
def test_ddp_two_cpu_processes(tone_csv, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "audiocnn.cli", "train", "--data", str(tone_csv), "--model", "test_cnn",
           "--epochs", "2", "--batch-size", "4", "--max-folds", "1", "--clip-seconds", "0.5", "--out", str(out),
           "--no-progress", "--devices", "2", "--strategy", "ddp", "--accelerator", "cpu"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("report:") == 1  # only rank 0 reports
    m = json.loads((out / "metrics.json").read_text())
    n_train = m["folds"][0]["n_train"]
    last = torch.load(out / "fold_1" / "lightning" / "last.ckpt", weights_only=True)
    # each rank gets half of the training clips; with the incomplete batch dropped that is
    # (n_train // 2) // 4 steps per epoch, fewer than one process would make (n_train // 4)
    assert last["global_step"] == 2 * ((n_train + 1) // 2 // 4)
    assert last["global_step"] < 2 * (n_train // 4)
    assert (out / "fold_1" / "best.pth").exists()
