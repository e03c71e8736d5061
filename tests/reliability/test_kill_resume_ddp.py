"""Two CPU processes (DDP, gloo) killed with SIGKILL after a checkpoint and resumed end as an
uninterrupted two-process run: k-fold training (killed after an epoch's checkpoint: the same
weights and metrics.json) and streaming training on packed shards launched by torchrun (killed
mid-epoch after a step's checkpoint: the same per-step losses and weights)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from audiocnn.testing import make_tone_csv

from run_outputs import comparable

HERE = Path(__file__).parent
EPOCHS, STEPS_PER_EPOCH = 3, 2  # 8 training clips, 4 per process, batches of 2 per process
KILL_AT = 2 * STEPS_PER_EPOCH + 1  # the first step of epoch 3: last.ckpt holds epoch 2
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _args(csv, out):
    return ["train", "--data", str(csv), "--out", str(out), "--model", "test_cnn", "--epochs", str(EPOCHS), "--batch-size", "2",
            "--clip-seconds", "0.25", "--mixup", "0.2", "--speed-perturb", "0.1", "--patience", "2", "--threads", "1",
            "--max-folds", "1", "--no-baselines", "--no-progress", "--devices", "2", "--strategy", "ddp", "--accelerator", "cpu"]


def _run(args):
    r = subprocess.run([sys.executable, "-m", "audiocnn.cli", *args], capture_output=True, text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def _pids(marker: Path) -> list[int]:
    """The processes that reached the kill step (killable_train.py appends one PID a line)."""
    return [int(x) for x in marker.read_text().split()] if marker.exists() else []


def _run_and_kill(cmd: list[str], marker: Path, processes: int = 2) -> None:
    """Start ``cmd`` (killable_train.py, directly or under a launcher), wait until ``processes``
    training processes reached the kill step, then SIGKILL them and the launcher: no clean-up of
    any kind. The PIDs are killed one by one as well as the launcher's group, because torchrun
    starts each worker in a session of its own."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, start_new_session=True)
    try:
        deadline = time.time() + 300
        while len(_pids(marker)) < processes:
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.time() < deadline, "the training processes never reached the step"
            time.sleep(0.1)
    finally:
        for pid in _pids(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


def _last(out: Path) -> dict:
    return torch.load(out / "fold_1" / "lightning" / "last.ckpt", map_location="cpu", weights_only=True)


@pytest.mark.slow
def test_two_processes_killed_after_a_checkpoint_resume_to_the_uninterrupted_run(tmp_path):
    csv = make_tone_csv(tmp_path / "data", per_class=6, folds=2, seconds=0.6)
    whole = _run(_args(csv, tmp_path / "whole"))
    assert whole.stdout.count("report:") == 1  # rank 0 reports
    ref = _last(tmp_path / "whole")
    assert ref["global_step"] == EPOCHS * STEPS_PER_EPOCH and len(ref["audiocnn_history"]) == EPOCHS

    out, marker = tmp_path / "run", tmp_path / "reached"
    # Lightning starts the second process with the same command line, so both run killable_train.py
    _run_and_kill([sys.executable, str(HERE / "killable_train.py"), str(KILL_AT), str(marker), "--", *_args(csv, out)], marker)
    assert _last(out)["global_step"] == 2 * STEPS_PER_EPOCH  # killed after epoch 2's checkpoint, in epoch 3
    assert not (out / "metrics.json").exists()

    _run([*_args(csv, out), "--resume"])
    assert comparable(out) == comparable(tmp_path / "whole")
    got = _last(out)
    assert got["global_step"] == ref["global_step"] and got["audiocnn_history"] == ref["audiocnn_history"]
    for name, value in ref["state_dict"].items():
        assert torch.equal(got["state_dict"][name], value), name  # the same weights, bit for bit


@pytest.mark.slow
def test_streaming_two_processes_killed_mid_epoch_resume_to_the_uninterrupted_run(tmp_path):
    """Streaming training on packed shards (torchrun, 2 processes): killed after the checkpoint of
    a step in the middle of epoch 1, --resume gives the same per-step losses and weights. Dropout
    and SpecAugment are off: the mid-epoch position is restored, the random generators are not
    (docs/reliability.md)."""
    from audiocnn.data.shards import PackOptions, SyntheticSource, pack
    from audiocnn.models import create_model

    rate = create_model("test_cnn", num_classes=2).sample_rate
    pack(SyntheticSource(80, seconds=0.5, num_classes=4, seed=4), tmp_path / "shards", PackOptions(sample_rate=rate, shard_size=16),
         progress=False)
    train = ["train", "--data", str(tmp_path / "shards"), "--model", "test_cnn", "--model-arg", "conv_dropout=0.0",
             "--model-arg", "fc_dropout=0.0", "--model-arg", "spec_augment=False", "--epochs", "2", "--clip-seconds", "0.4",
             "--batch-size", "4", "--shard-split", "samples", "--threads", "1", "--accelerator", "cpu", "--devices", "2",
             "--strategy", "ddp", "--num-workers", "0", "--checkpoint-every", "1", "--no-progress"]

    def torchrun(script, *args, port):
        return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
                "--master-port", str(port), *script, *args]

    def port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    whole = subprocess.run(torchrun(["-m", "audiocnn.cli"], *train, "--out", str(tmp_path / "whole"), port=port()),
                           capture_output=True, text=True, env=ENV, timeout=600)
    assert whole.returncode == 0, whole.stderr[-3000:]
    steps = json.loads((tmp_path / "whole" / "train_steps.json").read_text())["loss"]
    per_epoch = len(steps) // 2
    kill_at = per_epoch // 2 + 1  # in the middle of epoch 1
    assert per_epoch >= 4

    out, marker = tmp_path / "run", tmp_path / "reached"
    _run_and_kill(torchrun([str(HERE / "killable_train.py"), str(kill_at), str(marker), "--"], *train, "--out", str(out), port=port()), marker)
    ckpt = torch.load(out / "lightning" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == kill_at - 1  # the checkpoint of the step before the kill

    resumed = subprocess.run(torchrun(["-m", "audiocnn.cli"], *train, "--out", str(out), "--resume", port=port()),
                             capture_output=True, text=True, env=ENV, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    got = json.loads((out / "train_steps.json").read_text())["loss"]
    assert len(got) == len(steps)
    assert got == pytest.approx(steps, rel=1e-5)
    a = torch.load(tmp_path / "whole" / "lightning" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    b = torch.load(out / "lightning" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    for name, value in a.items():
        torch.testing.assert_close(b[name], value, rtol=1e-5, atol=1e-6, msg=name)
