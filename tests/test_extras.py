"""What runs without the optional extras: tagging needs neither Lightning (the ``train`` extra)
nor ONNX nor torchao, and training without Lightning says which extra to install."""

import subprocess
import sys
import textwrap

from audiocnn.testing import tone, write_wav


def _run_without(blocked: list[str], code: str, cwd) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in which importing any of ``blocked`` fails."""
    prelude = f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None  # as if not installed\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_tag_runs_without_lightning_onnx_or_torchao(tmp_path):
    write_wav(tmp_path / "a.wav", tone(440, 1.5, 32000), 32000)
    r = _run_without(["lightning", "onnx", "onnxruntime", "onnxscript", "torchao"], """
        import sys
        from audiocnn.cli import main
        rc = main(["tag", "a.wav", "--model", "test_cnn", "--workers", "0", "--no-progress", "--format", "json"])
        print("RC", rc, "lightning" in sys.modules and sys.modules["lightning"] is not None)
    """, tmp_path)
    assert "RC 0 False" in r.stdout, r.stderr[-3000:]
    assert '"path": "a.wav"' in r.stdout


def test_train_without_lightning_names_the_extra(tmp_path):
    for label, f in (("low", 300.0), ("high", 3000.0)):
        for i in range(2):
            write_wav(tmp_path / "data" / label / f"{i}.wav", tone(f + 10 * i, 1.0, 32000), 32000)
    r = _run_without(["lightning"], """
        from audiocnn.cli import main
        print("RC", main(["train", "--data", "data", "--model", "test_cnn", "--out", "run", "--epochs", "1"]))
    """, tmp_path)
    assert "RC 1" in r.stdout, r.stderr[-3000:]
    assert 'training needs lightning' in r.stderr and 'pip install "audiocnn[train]"' in r.stderr
    assert "Traceback" not in r.stderr
