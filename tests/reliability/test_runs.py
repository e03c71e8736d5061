"""Run folders: the lock, the --resume fingerprint, retries after a failed start, and data that
cannot train a classifier."""

import csv
import json
import multiprocessing
import socket
import subprocess
import sys
import time
from dataclasses import replace

import pytest

import audiocnn.data
from audiocnn.cli import main
from audiocnn.errors import EXIT_ERROR, EXIT_USAGE
from audiocnn.evaluate.protocol import run_experiment
from audiocnn.testing import make_tone_csv
from audiocnn.train import TrainConfig
from audiocnn.train.runlock import LOCK_NAME, RunFolder, RunInUseError, RunMismatchError


@pytest.fixture
def tiny():
    return TrainConfig(model="test_cnn", epochs=1, batch_size=4, patience=0, progress=False, clip_seconds=0.25)


def _lock(out, **fields):
    out.mkdir(parents=True, exist_ok=True)
    owner = {"pid": 1, "host": socket.gethostname(), "process_started": 0.0, "locked_at": "then", "command": "audiocnn train"}
    (out / LOCK_NAME).write_text(json.dumps({**owner, **fields}))


def test_a_live_owner_is_refused_and_a_dead_one_taken_over(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import psutil

        _lock(tmp_path / "run", pid=sleeper.pid, process_started=psutil.Process(sleeper.pid).create_time())
        with pytest.raises(RunInUseError, match=f"in use by process {sleeper.pid}"):
            RunFolder(tmp_path / "run", resume=True, recipe={}).__enter__()
    finally:
        sleeper.kill()
        sleeper.wait()
    with RunFolder(tmp_path / "run", resume=True, recipe={}):  # the owner is gone: taken over
        assert json.loads((tmp_path / "run" / LOCK_NAME).read_text())["pid"] != sleeper.pid
    assert not (tmp_path / "run" / LOCK_NAME).exists()


def test_a_reused_pid_is_not_the_owner(tmp_path):
    import os

    _lock(tmp_path / "run", pid=os.getpid(), process_started=1.0)  # our PID, but a process started long ago
    with RunFolder(tmp_path / "run", resume=False, recipe={}):
        pass


def test_a_lock_from_another_host_is_never_taken(tmp_path):
    _lock(tmp_path / "run", host="elsewhere.example", pid=4242)
    with pytest.raises(RunInUseError, match="another host cannot be checked.*delete"):
        RunFolder(tmp_path / "run", resume=False, recipe={}).__enter__()


def _try_lock(out, barrier, results):
    barrier.wait()
    try:
        folder = RunFolder(out, resume=False, recipe={})
        folder.__enter__()
        results.put("won")
        time.sleep(1.0)  # hold it while the others try
        folder.__exit__(None, None, None)
    except RunInUseError:
        results.put("refused")


def test_of_processes_racing_for_a_folder_exactly_one_wins(tmp_path):
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_try_lock, args=(tmp_path / "run", barrier, results)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    assert outcomes == ["refused", "refused", "refused", "won"]


def test_resume_refuses_changed_data_or_recipe_with_the_differences(tmp_path, tiny):
    data = make_tone_csv(tmp_path / "data", per_class=3, folds=2)
    out = tmp_path / "run"
    run_experiment(data, tiny, out, max_folds=1)
    with pytest.raises(RunMismatchError) as e:
        run_experiment(data, replace(tiny, lr=0.1, mixup=0.3), out, resume=True)
    assert f"recipe lr: {tiny.lr} -> 0.1" in str(e.value) and "recipe mixup: 0.0 -> 0.3" in str(e.value)
    rows = list(csv.DictReader(open(data)))
    rows[0]["label"] = "high" if rows[0]["label"] != "high" else "low"  # one relabelled file
    with open(data, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(RunMismatchError, match="the labels of the files changed"):
        run_experiment(data, tiny, out, resume=True)
    # the CLI: one line per difference, exit 1, no traceback
    assert main(["train", "--data", str(data), "--out", str(out), "--model", "test_cnn", "--epochs", "1", "--clip-seconds", "0.25",
                 "--patience", "0", "--no-progress", "--resume"]) == EXIT_ERROR


def test_a_run_that_stopped_before_training_does_not_block_the_retry(tmp_path, tiny):
    data = make_tone_csv(tmp_path / "data", per_class=3, folds=2)
    (tmp_path / "data" / "low_0.wav").write_bytes(b"broken")
    out = tmp_path / "run"
    with pytest.raises(audiocnn.data.BadDataError):
        run_experiment(data, tiny, out, max_folds=1)
    assert not (out / LOCK_NAME).exists()  # released on the way out
    m = run_experiment(data, tiny, out, max_folds=1, skip_bad=True)  # no --resume needed
    assert m["bad_files"] == [{"path": str(tmp_path / "data" / "low_0.wav"), "reason": m["bad_files"][0]["reason"],
                               "error": {"type": "not_audio", "message": m["bad_files"][0]["reason"]}}]


def test_single_class_data_is_refused_before_training(tmp_path, tiny, caplog):
    rows = [{"filename": f"low_{i}.wav", "label": "low", "fold": str(i % 2 + 1)} for i in range(4)]
    data = make_tone_csv(tmp_path / "data", per_class=4, folds=2)
    with open(data, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["filename", "label", "fold"])
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(ValueError, match="at least 2 classes.*found 1: 'low'"):
        run_experiment(data, tiny, tmp_path / "run")
    assert any("only the class 'low'" in r.getMessage() for r in caplog.records)  # the data check warned too


def test_labels_none_and_na_are_labels(tmp_path, tiny):
    data = make_tone_csv(tmp_path / "data", per_class=3, folds=2)
    rows = list(csv.DictReader(open(data)))
    for r in rows:
        r["label"] = {"low": "none", "mid": "NA", "high": "null"}[r["label"]]
    with open(data, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    m = run_experiment(data, tiny, tmp_path / "run", max_folds=1)
    assert sorted(m["classes"]) == ["NA", "none", "null"] and m["bad_files"] == []


def test_out_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    f = tmp_path / "taken"
    f.write_text("not a folder")
    for out, says in ((f, "is a file; give a folder"), (f / "sub", f"{f} is a file, not a folder")):
        with pytest.raises(SystemExit) as e:  # argparse: before anything is loaded
            main(["train", "--data", str(tmp_path), "--out", str(out)])
        assert e.value.code == EXIT_USAGE and says in capsys.readouterr().err


def test_the_lock_alone_guards_streaming_runs(tmp_path):
    from audiocnn.train.runlock import run_lock

    with run_lock(tmp_path / "stream"):
        with pytest.raises(RunInUseError, match="in use by process"):
            with run_lock(tmp_path / "stream"):
                pass
    assert not (tmp_path / "stream" / LOCK_NAME).exists()
