"""A model that raises on one file's windows, in the middle of a batch: `tag` and `embed` run the
batch again file by file, so only that file becomes a failure record (``model_error``) and every
other file of the batch keeps the result it has without the bad file."""

import json

import numpy as np
import pytest

from audiocnn.cli import main
from audiocnn.errors import EXIT_PARTIAL
from audiocnn.models.panns import PannsCnn
from audiocnn.testing import tone, write_wav

pytestmark = pytest.mark.filterwarnings("ignore:.*RANDOM weights.*")

SR = 32000  # test_cnn's rate: no resampling, so the marked samples reach the model unchanged
MARK = 0.25  # a window whose every sample is MARK makes the stub model raise
MODEL = ["--model", "test_cnn", "--clip-seconds", "0.5", "--workers", "0", "--no-progress"]
CLIP = [*MODEL, "--batch-size", "8"]


@pytest.fixture(scope="module")
def weights(seeded_checkpoint):
    """Fixed weights, so that two runs give the same probabilities."""
    return seeded_checkpoint(6)


@pytest.fixture
def stub_model(monkeypatch):
    """test_cnn whose forward raises on a batch that holds a marked window; ``calls`` records the
    batch size of every forward that ran."""
    real = PannsCnn.forward
    calls = []

    def forward(self, x, *args, **kwargs):
        if x.dim() == 2 and bool(((x - MARK).abs().amax(dim=-1) < 1e-3).any()):
            raise RuntimeError("stub: a marked input")
        calls.append(int(x.shape[0]))
        return real(self, x, *args, **kwargs)

    monkeypatch.setattr(PannsCnn, "forward", forward)
    return calls


def _files(root):
    """Three good 0.5-s files and, sorted between them, a 1-s file whose first half is a tone and
    whose second half is marked (its first window runs, its last one makes the model raise)."""
    good = [write_wav(root / f"{name}.wav", tone(f, 0.5, SR), SR) for name, f in (("a", 300.0), ("c", 700.0), ("d", 1100.0))]
    bad = np.concatenate([tone(500.0, 0.5, SR), np.full(SR // 2, MARK, np.float32)])
    marked = write_wav(root / "b_marked.wav", bad, SR)
    return [str(p) for p in good], str(marked)


def test_tag_keeps_the_other_files_of_the_batch(tmp_path, capsys, stub_model, weights):
    good, marked = _files(tmp_path)
    assert main(["tag", *good, "--format", "json", "--top-k", "3", *CLIP, "--checkpoint", weights]) == 0
    clean = {r["path"]: r["tags"] for r in json.loads(capsys.readouterr().out)}

    stub_model.clear()
    rc = main(["tag", *sorted([*good, marked]), "--format", "json", "--top-k", "3", *CLIP, "--checkpoint", weights])
    out, err = capsys.readouterr()
    assert rc == EXIT_PARTIAL and "Traceback" not in err
    rows = json.loads(out)
    assert [r["path"] for r in rows] == sorted([*good, marked])
    bad = next(r for r in rows if r["path"] == marked)
    assert bad["error"]["type"] == "model_error" and "stub: a marked input" in bad["error"]["message"]
    assert f"{marked}: " in err and "[model_error]" in err
    for r in rows:
        if r["path"] != marked:
            assert r["error"] is None
            assert [t["label"] for t in r["tags"]] == [t["label"] for t in clean[r["path"]]]
            np.testing.assert_allclose([t["probability"] for t in r["tags"]], [t["probability"] for t in clean[r["path"]]], atol=1e-5)
    assert 1 in stub_model, "the failing batch must have been run again file by file"


def test_embed_keeps_the_other_files_and_drops_the_windows_of_the_failed_one(tmp_path, capsys, stub_model, weights):
    good, marked = _files(tmp_path)
    assert main(["embed", *good, "--out", str(tmp_path / "clean.npz"), *CLIP, "--checkpoint", weights]) == 0
    clean = np.load(tmp_path / "clean.npz")
    for per_window in ([], ["--per-window", "--window-seconds", "0.5", "--hop-seconds", "0.5"]):
        out = tmp_path / f"all{len(per_window)}.npz"
        # batches of 2 windows: the marked file's good window is embedded in an earlier batch than its marked one
        assert main(["embed", *sorted([*good, marked]), "--out", str(out), *MODEL, "--batch-size", "2", "--checkpoint", weights, *per_window]) == EXIT_PARTIAL
        assert "Traceback" not in capsys.readouterr().err
        z = np.load(out)
        assert list(z["paths"]) == good
        assert list(z["failed_paths"]) == [marked] and list(z["failed_types"]) == ["model_error"]
        assert z["file_index"].max() == len(good) - 1  # no row of the failed file
        if not per_window:
            np.testing.assert_allclose(z["embeddings"], clean["embeddings"], atol=1e-5)
        else:
            assert z["embeddings"].shape[0] == len(good)  # one 0.5-s window per good file


def test_python_api_records_the_model_error(tmp_path, stub_model, weights):
    from audiocnn.inference.tagger import Tagger

    good, marked = _files(tmp_path)
    tagger = Tagger("test_cnn", checkpoint=weights, clip_seconds=0.5, batch_size=8)
    res = tagger.tag([*good, marked], errors="record")
    assert [r.error is None for r in res] == [True, True, True, False]
    assert res[-1].error.type == "model_error" and res[-1].tags == []
    with pytest.raises(RuntimeError, match="stub: a marked input"):  # errors="raise" stops at the model's error
        tagger.tag([*good, marked], errors="raise")
