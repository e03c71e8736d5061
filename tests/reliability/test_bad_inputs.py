"""Bad arguments, bad CSVs, hostile checkpoints, bad arrays and output faults: each gets a named
error in one line (the exit codes of audiocnn.errors), never a traceback, never a clobbered output."""

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import audiocnn
from audiocnn.cli import main
from audiocnn.errors import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from audiocnn.testing import tone, write_wav

from faults import SR, good

TAG = ["--model", "test_cnn", "--workers", "0", "--no-progress"]


@pytest.mark.parametrize("argv, says", [
    (["tag", "x.wav", "--top-k", "0"], "argument --top-k: must be >= 1, got 0"),
    (["tag", "x.wav", "--clip-seconds", "-5"], "argument --clip-seconds: must be > 0, got -5"),
    (["tag", "x.wav", "--batch-size", "0"], "argument --batch-size: must be >= 1"),
    (["tag", "x.wav", "--workers", "-1"], "argument --workers: must be >= 0"),
    (["sed", "x.wav", "--threshold", "1.5"], "argument --threshold: must be in [0, 1], got 1.5"),
    (["sed", "x.wav", "--hop-seconds", "0"], "argument --hop-seconds: must be > 0"),
    (["sed", "x.wav", "--min-duration", "nan"], "argument --min-duration: must be >= 0, got nan"),
    (["embed", "x.wav", "--out", "e.npz", "--window-seconds", "inf"], "argument --window-seconds: must be > 0, got inf"),
    (["train", "--data", "d", "--epochs", "0"], "argument --epochs: must be >= 1, got 0"),
    (["train", "--data", "d", "--val-fraction", "1"], "argument --val-fraction: must be in [0, 1), got 1"),
    (["train", "--data", "d", "--lr", "-1"], "argument --lr: must be > 0"),
    (["train", "--data", "d", "--max-folds", "0"], "argument --max-folds: must be >= 1"),
])
def test_arguments_outside_their_range_are_usage_errors(argv, says, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == EXIT_USAGE and says in capsys.readouterr().err


def test_embed_out_must_be_an_npz_file(tmp_path, capsys):
    wav = good(tmp_path)
    assert main(["embed", str(wav), "--out", str(tmp_path / "X"), *TAG]) == EXIT_USAGE
    assert "--out: " in capsys.readouterr().err and not list(tmp_path.glob("X*"))  # no X.npz behind the user's back
    assert main(["embed", str(wav), "--out", str(tmp_path), *TAG]) == EXIT_USAGE  # a folder


def test_tag_out_under_a_file_is_refused_before_any_work(tmp_path, capsys):
    wav = good(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["tag", str(wav), "--out", str(blocker / "tags.json"), *TAG]) == EXIT_USAGE
    assert f"{blocker} is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("errno_, reason", [(errno.EROFS, "read-only file system"), (errno.ENOSPC, "no space left on the device")])
def test_tag_output_fault_names_the_file_and_keeps_the_previous_output(tmp_path, capsys, monkeypatch, errno_, reason):
    wav = good(tmp_path)
    out = tmp_path / "tags.json"
    assert main(["tag", str(wav), "--format", "json", "--out", str(out), *TAG]) == EXIT_OK
    before = out.read_text()
    real_replace = os.replace

    def failing(src, dst, *a, **k):
        if Path(dst) == out:
            raise OSError(errno_, os.strerror(errno_))
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", failing)
    capsys.readouterr()
    assert main(["tag", str(wav), "--format", "csv", "--out", str(out), *TAG]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert f"{out}: cannot write ({reason}); earlier outputs are left as they were" in err and "Traceback" not in err
    assert out.read_text() == before and not list(tmp_path.glob(".tags.tmp*"))


def _write_csv(path: Path, text: str, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def clips(tmp_path):
    d = tmp_path / "clips"
    for name, f in (("a", 300), ("b", 900), ("c", 2000), ("d", 3000)):
        write_wav(d / f"{name}.wav", tone(f, 0.5, SR), SR)
    return d


@pytest.mark.parametrize("text, encoding, says", [
    ("file,category\na.wav,x\nb.wav,y\n", "utf-8", "meta.csv"),  # no filename/label columns
    ("filename,label,fold\na.wav,x,1\nb.wav,y,2\na.wav,x,2\nc.wav,x,1\nd.wav,y,2\n", "utf-8", "listed in folds 1 and 2"),
    ("filename,label,fold\na.wav,x,1\nb.wav,y,2\nb.wav,y,2\nc.wav,x,1\nd.wav,y,2\nmissing.wav,x,1\n", "utf-8", "missing.wav: file not found"),
    ("filename,label,fold\na.wav,caf\xe9,1\nb.wav,th\xe9,2\n", "utf-16", "meta.csv"),
])
def test_bad_csvs_stop_with_the_file_and_the_row_named(clips, capsys, text, encoding, says):
    csv_path = _write_csv(clips / "meta.csv", text, encoding)
    rc = main(["train", "--data", str(csv_path), "--out", str(clips.parent / "run"), "--model", "test_cnn", "--epochs", "1",
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc == EXIT_ERROR and says in err and "Traceback" not in err
    assert not (clips.parent / "run" / "fold_1").exists()  # stopped before training


def test_hostile_and_damaged_checkpoints_are_refused_without_running_code(tmp_path, capsys):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pth"
    torch.save({"model": Payload()}, evil)
    good_ckpt = tmp_path / "ok.pth"
    torch.save({"model": audiocnn.create_model("test_cnn").state_dict()}, good_ckpt)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good_ckpt.read_bytes()[:200])
    other = tmp_path / "other.pth"
    torch.save({"model": {"conv.weight": torch.zeros(3, 3)}}, other)
    wav = good(tmp_path)
    for ckpt in (evil, cut, other, tmp_path / "absent.pth"):
        assert main(["tag", str(wav), "--checkpoint", str(ckpt), *TAG]) == EXIT_ERROR
        err = capsys.readouterr().err
        assert f"audiocnn tag: error: {ckpt}" in err or str(ckpt) in err.splitlines()[-1], err
        assert "Traceback" not in err
    assert not marker.exists()


def test_arrays_given_to_the_python_api_are_checked(tmp_path):
    tagger = audiocnn.Tagger(audiocnn.create_model("test_cnn", num_classes=4))
    x = tone(440, 1.0, 32000)
    for bad, says in ((np.full(800, np.nan, np.float32), "waveform: 800 NaN/inf"), (np.zeros(0, np.float32), "no samples"),
                      ([], "no waveform"), (np.zeros((2, 0), np.float32), "waveform 0: no samples"),
                      ([x, np.array([np.inf], np.float32)], "waveform 1: 1 NaN/inf")):
        with pytest.raises(ValueError, match=says):
            tagger.predict_proba(bad)
    pcm = np.round(x * 32767).astype(np.int16)  # int16 PCM is rescaled, not fed as +-32767
    np.testing.assert_allclose(tagger.predict_proba(pcm), tagger.predict_proba(pcm / 32768.0), atol=1e-6)
    with pytest.raises(ValueError, match="sample_rate"):
        tagger.predict_proba(x, sample_rate=0)
    from audiocnn.inference.embed import Embedder
    from audiocnn.inference.sed import SoundEventDetector

    with pytest.raises(ValueError, match="NaN"):
        Embedder(audiocnn.create_model("test_cnn")).embed_batch(np.full((1, 800), np.nan, np.float32))
    with pytest.raises(ValueError, match="waveform: no samples"):
        SoundEventDetector(audiocnn.create_model("test_cnn_sed")).detect(np.zeros(0, np.float32))
    assert json.dumps(tagger.tag([str(tmp_path / "nope.wav")], errors="record")[0].to_dict())  # records are JSON


def test_ctrl_c_while_tagging_exits_130_saying_nothing_was_written(tmp_path, capsys, monkeypatch):
    from audiocnn.inference.tagger import Tagger

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(Tagger, "tag", interrupted)
    out = tmp_path / "tags.json"
    assert main(["tag", str(good(tmp_path)), "--out", str(out), *TAG]) == 130
    assert "audiocnn tag: interrupted; no output written" in capsys.readouterr().err and not out.exists()
