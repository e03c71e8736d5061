"""Killed at a random point and resumed, a short training run writes the same metrics.json as an
uninterrupted one; while it runs, a second run on its folder refuses; its lock, left by the
killed process, is taken over by --resume."""

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audiocnn.cli import main
from audiocnn.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from audiocnn.testing import make_tone_csv
from audiocnn.train.runlock import LOCK_NAME

from run_outputs import comparable

HERE = Path(__file__).parent
STEPS_PER_EPOCH, EPOCHS, FOLDS = 2, 3, 2  # 5 training clips per fold, batches of 2 (the last dropped)
TOTAL_STEPS = STEPS_PER_EPOCH * EPOCHS * FOLDS


def _train_args(csv, out):
    return ["train", "--data", str(csv), "--out", str(out), "--model", "test_cnn", "--epochs", str(EPOCHS), "--batch-size", "2",
            "--clip-seconds", "0.25", "--mixup", "0.2", "--speed-perturb", "0.1", "--patience", "2", "--val-fraction", "0.1", "--threads", "1", "--no-progress"]




@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The data and the metrics of an uninterrupted run."""
    root = tmp_path_factory.mktemp("kill")
    csv = make_tone_csv(root / "data", per_class=4, folds=FOLDS, seconds=0.6)
    assert main(_train_args(csv, root / "whole")) == EXIT_OK
    m = comparable(root / "whole")
    assert [f["epochs_run"] for f in m["folds"]] == [EPOCHS] * FOLDS  # so TOTAL_STEPS is right
    return root, csv, m


def test_sigkill_at_a_random_step_then_resume_gives_the_same_metrics(reference, tmp_path, caplog, capsys):
    root, csv, expected = reference
    seed = int(os.environ.get("AUDIOCNN_KILL_SEED", time.time_ns() % 100_000))
    step = random.Random(seed).randint(1, TOTAL_STEPS)
    print(f"killing at training step {step} of {TOTAL_STEPS} (AUDIOCNN_KILL_SEED={seed} repeats it)")
    out, marker = tmp_path / "run", tmp_path / "reached"
    proc = subprocess.Popen([sys.executable, str(HERE / "killable_train.py"), str(step), str(marker), "--", *_train_args(csv, out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.time() < deadline, "the training process never reached the step"
            time.sleep(0.1)
        # the run is alive: a second run on its folder refuses, with or without --resume
        for extra in ([], ["--resume"]):
            capsys.readouterr()
            assert main([*_train_args(csv, out), *extra]) == EXIT_ERROR
            err = capsys.readouterr().err
            assert f"in use by process {proc.pid}" in err and "Traceback" not in err
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == proc.pid  # left behind by the kill
    with caplog.at_level(logging.WARNING, logger="audiocnn.train.runlock"):
        assert main([*_train_args(csv, out), "--resume"]) == EXIT_OK
    assert any("no longer running" in r.getMessage() for r in caplog.records)
    assert not (out / LOCK_NAME).exists()  # released at the end
    assert comparable(out) == expected


@pytest.mark.parametrize("step", [1, STEPS_PER_EPOCH + 1, STEPS_PER_EPOCH * EPOCHS, TOTAL_STEPS - 1])
def test_ctrl_c_at_a_step_says_what_was_kept_and_resume_matches(reference, tmp_path, capsys, monkeypatch, step):
    """Ctrl-C inside Lightning (which answers it with exit(1)) is exit 130 with a line saying what
    was kept; --resume then ends with the uninterrupted metrics. Steps: the first, the first of
    epoch 2, the last of fold 1, the last but one of the run."""
    root, csv, expected = reference
    from audiocnn.train.module import AudioClassifier

    real_step = AudioClassifier.training_step
    count = [0]

    def interrupted(self, batch, batch_idx):
        count[0] += 1
        if count[0] == step:
            raise KeyboardInterrupt
        return real_step(self, batch, batch_idx)

    monkeypatch.setattr(AudioClassifier, "training_step", interrupted)
    out = tmp_path / "run"
    assert main(_train_args(csv, out)) == EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert "audiocnn train: interrupted;" in err and "--resume continues the run" in err
    if step > STEPS_PER_EPOCH * EPOCHS:
        assert "fold_1 finished" in err
    elif step > STEPS_PER_EPOCH:
        assert "fold_1 checkpointed" in err
    monkeypatch.setattr(AudioClassifier, "training_step", real_step)
    assert main(_train_args(csv, out)) == EXIT_ERROR or step <= STEPS_PER_EPOCH  # not without --resume
    assert main([*_train_args(csv, out), "--resume"]) == EXIT_OK
    assert comparable(out) == expected


def test_truncated_last_checkpoint_is_moved_aside_and_the_fold_retrained(reference, tmp_path, capsys, monkeypatch, caplog):
    root, csv, expected = reference
    from audiocnn.train.module import AudioClassifier

    real_step = AudioClassifier.training_step
    count = [0]

    def interrupted(self, batch, batch_idx):
        count[0] += 1
        if count[0] == STEPS_PER_EPOCH * 2 + 1:  # in epoch 3 of fold 1: last.ckpt holds epoch 2
            raise KeyboardInterrupt
        return real_step(self, batch, batch_idx)

    monkeypatch.setattr(AudioClassifier, "training_step", interrupted)
    out = tmp_path / "run"
    assert main(_train_args(csv, out)) == EXIT_INTERRUPTED
    monkeypatch.setattr(AudioClassifier, "training_step", real_step)
    last = out / "fold_1" / "lightning" / "last.ckpt"
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])  # damaged by something other than our writes
    with caplog.at_level(logging.WARNING, logger="audiocnn.train.loop"):
        assert main([*_train_args(csv, out), "--resume"]) == EXIT_OK
    assert "Traceback" not in capsys.readouterr().err
    assert any("cannot be read" in r.getMessage() and "last.ckpt.damaged" in r.getMessage() for r in caplog.records)
    assert (last.parent / "last.ckpt.damaged").stat().st_size == len(data) // 2  # kept for inspection
    assert comparable(out) == expected


@pytest.mark.parametrize("errno_", ["ENOSPC", "EROFS"])
def test_full_disk_or_read_only_names_the_file_and_keeps_earlier_outputs(reference, tmp_path, capsys, monkeypatch, errno_):
    """The disk fills up (or turns read-only) when metrics.json is written: the message names the
    file, the finished folds stay, and --resume once there is room finishes without retraining."""
    import errno

    root, csv, expected = reference
    real_replace = os.replace

    def failing_replace(src, dst, *a, **k):
        if Path(dst).name == "metrics.json":
            raise OSError(getattr(errno, errno_), os.strerror(getattr(errno, errno_)))
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", failing_replace)
    out = tmp_path / "run"
    assert main(_train_args(csv, out)) == EXIT_ERROR
    err = capsys.readouterr().err
    reason = {"ENOSPC": "no space left on the device", "EROFS": "read-only file system"}[errno_]
    assert f"{out / 'metrics.json'}: cannot write ({reason}); earlier outputs are left as they were" in err
    assert "Traceback" not in err
    assert (out / "fold_1" / "result.json").exists() and (out / "fold_2" / "result.json").exists()
    assert not list(out.glob(".metrics.tmp*"))  # no half-written temporary file left
    monkeypatch.setattr(os, "replace", real_replace)
    from audiocnn.evaluate import protocol

    monkeypatch.setattr(protocol, "fit_fold", lambda *a, **k: pytest.fail("a finished fold was trained again"))
    assert main([*_train_args(csv, out), "--resume"]) == EXIT_OK
    assert comparable(out) == expected


def test_last_checkpoint_holds_the_last_epoch(reference):
    """last.ckpt is written at every epoch end, also in epochs that do not improve the best one:
    a kill loses at most the epoch under way."""
    import torch

    root, _, expected = reference
    for k in range(1, FOLDS + 1):
        ckpt = torch.load(root / "whole" / f"fold_{k}" / "lightning" / "last.ckpt", map_location="cpu", weights_only=True)
        assert ckpt["global_step"] == STEPS_PER_EPOCH * EPOCHS
        assert len(ckpt["audiocnn_history"]) == EPOCHS
