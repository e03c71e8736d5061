"""--logger csv|tensorboard, and what run.json records about the environment of a run."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import platform
import subprocess
from pathlib import Path

import lightning
import numpy
import pytest
import torch

import audiocnn
from audiocnn.cli import main

TINY = ["--model", "test_cnn", "--epochs", "2", "--batch-size", "8", "--max-folds", "1", "--clip-seconds", "0.5",
        "--val-fraction", "0.1", "--no-baselines", "--no-progress"]


def test_csv_curves_and_the_environment_in_run_json(tone_csv, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(tone_csv), "--out", str(out), *TINY]) == 0
    capsys.readouterr()
    [metrics_csv] = (out / "fold_1" / "logs").glob("version_*/metrics.csv")
    rows = list(csv.DictReader(metrics_csv.open()))
    assert {"train_loss", "val_metric", "val_loss", "epoch", "step"} <= set(rows[0])
    assert len({r["epoch"] for r in rows if r.get("val_metric")}) == 2  # one validation row per epoch

    env = json.loads((out / "run.json").read_text())["environment"]
    assert env["versions"] == {"audiocnn": audiocnn.__version__, "python": platform.python_version(), "torch": torch.__version__,
                               "lightning": lightning.__version__, "numpy": numpy.__version__}
    assert env["machine"]["cpus"] == os.cpu_count() and env["machine"]["platform"] == platform.platform()
    src = Path(audiocnn.__file__).parent
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True)
    if head.returncode == 0:
        assert env["git_commit"] == head.stdout.strip() and isinstance(env["git_dirty"], bool)
    else:
        assert env["git_commit"] is None


def test_the_environment_is_no_part_of_the_resume_fingerprint(tone_csv, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(tone_csv), "--out", str(out), *TINY, "--epochs", "1"]) == 0
    record = json.loads((out / "run.json").read_text())
    record["environment"]["versions"]["torch"] = "0.0"
    (out / "run.json").write_text(json.dumps(record))
    assert main(["train", "--data", str(tone_csv), "--out", str(out), *TINY, "--epochs", "1", "--resume"]) == 0
    capsys.readouterr()


@pytest.mark.skipif(any(importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")), reason="tensorboard is installed")
def test_tensorboard_without_its_package_is_a_usage_error(tone_csv, tmp_path, capsys):
    assert main(["train", "--data", str(tone_csv), "--out", str(tmp_path / "run"), *TINY, "--logger", "tensorboard"]) == 2
    err = capsys.readouterr().err
    assert "--logger tensorboard needs the tensorboard package" in err
    assert not (tmp_path / "run" / "fold_1").exists()


@pytest.mark.skipif(not importlib.util.find_spec("tensorboard"), reason="the tensorboard package is not installed")
def test_tensorboard_curves(tone_csv, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(tone_csv), "--out", str(out), *TINY, "--logger", "tensorboard"]) == 0
    assert list((out / "fold_1" / "logs").glob("version_*/events.out.tfevents.*"))
    capsys.readouterr()
