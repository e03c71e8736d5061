"""The official HEAR validator (``hearvalidator``, the ``hear-validator`` command) on
``audiocnn.hear``: the default model and a model trained by ``audiocnn train``, each in a
subprocess exactly as a HEAR user runs it."""

import importlib.util
import os
import subprocess
import sys

import pytest

from audiocnn.cli import main
from audiocnn.testing import make_tone_csv

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("hearvalidator") is None,
    reason="needs the hearvalidator package (pip install -e '.[test]')",
)


def _validate(*args: str) -> str:
    """Run ``hear-validator audiocnn.hear *args -d cpu``; its stdout, after checking it passed."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",  # the validator imports TensorFlow
        "CUDA_VISIBLE_DEVICES": "",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "hearvalidator.validate", "audiocnn.hear", *args, "-d", "cpu"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 0, f"hear-validator failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "Looks good!" in proc.stdout
    return proc.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A test_cnn (a 32 kHz network) trained by ``audiocnn train`` on three tones."""
    root = tmp_path_factory.mktemp("hear_trained")
    data = make_tone_csv(root / "data", per_class=4, folds=2, seconds=0.5)
    out = root / "run"
    code = main([
        "train", "--data", str(data), "--model", "test_cnn", "--epochs", "1", "--batch-size", "4",
        "--max-folds", "1", "--patience", "0", "--out", str(out), "--no-progress", "--no-baselines", "-q",
    ])
    assert code == 0
    return out / "fold_1"


@pytest.mark.slow
def test_default_model_passes_the_official_validator():
    out = _validate()
    assert "Model sample rate is: 16000" in out
    assert "scene_embedding_size: 2048" in out


@pytest.mark.slow
@pytest.mark.parametrize("source", ["best.pth", "model"])
def test_a_trained_checkpoint_passes_the_official_validator(trained, source):
    out = _validate("-m", str(trained / source))
    # the 32 kHz network is offered at the lowest HEAR rate above its own
    assert "Model sample rate is: 44100" in out
    assert "scene_embedding_size: 16" in out and "timestamp_embedding_size: 16" in out
