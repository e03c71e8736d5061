import csv
import json

import numpy as np
import pytest

from audiocnn.cli import main
from audiocnn.testing import tone, write_wav

from inference_helpers import SR


def test_tag_cli_lists_corrupt_file_and_tags_the_rest(wavs, tmp_path, capsys):
    bad = tmp_path / "sub" / "corrupt.wav"
    bad.parent.mkdir()
    bad.write_bytes(b"RIFF....WAVEfmt nonsense")
    args = ["tag", str(tmp_path), "--model", "test_cnn", "--top-k", "2", "--format", "json", "--workers", "1", "--no-progress"]
    rc = main(args)
    out, err = capsys.readouterr()
    assert rc == 3  # some files failed
    rows = json.loads(out)
    ok = [r for r in rows if r["error"] is None]
    assert sorted(r["path"] for r in ok) == sorted(str(p) for p in wavs)
    assert all(len(r["tags"]) == 2 and r["tags"][0]["probability"] >= r["tags"][1]["probability"] for r in ok)
    # the failed file is a record in the same output, not only a line on stderr
    assert [r for r in rows if r["error"] is not None] == [
        {"path": str(bad), "error": {"type": "not_audio", "message": rows[-1]["error"]["message"]}}
    ]
    assert rows[-1]["error"]["message"].startswith("not a readable audio file")
    assert "1 of 4 file(s) could not be tagged" in err
    assert f"{bad}: not a readable audio file" in err and "[not_audio]" in err
    assert "RANDOM weights" in err
    assert main([*args, "--allow-failures"]) == 0


def test_tag_cli_all_failed_is_an_error(tmp_path, capsys):
    bad = tmp_path / "x.wav"
    bad.write_text("nope")
    rc = main(["tag", str(bad), str(tmp_path / "missing.flac"), "--model", "test_cnn", "--workers", "0", "--no-progress"])
    _, err = capsys.readouterr()
    assert rc == 3
    assert "missing.flac: file not found [file_not_found]" in err


def test_tag_cli_csv_and_table(wavs, tmp_path, capsys):
    out_csv = tmp_path / "tags.csv"
    assert main(["tag", *map(str, wavs[:2]), "--model", "test_cnn", "--top-k", "3", "--format", "csv", "--out", str(out_csv), "--no-progress", "--workers", "0"]) == 0
    rows = list(csv.DictReader(open(out_csv)))
    assert len(rows) == 6 and rows[0]["rank"] == "1" and rows[0]["label"].startswith("class_")
    assert main(["tag", str(wavs[0]), "--model", "test_cnn", "--no-progress", "--workers", "0"]) == 0
    assert "good0.wav" in capsys.readouterr().out


@pytest.mark.parametrize("cmd", ["tag", "sed", "embed", "export"])
def test_every_help_shows_an_example(cmd, capsys):
    with pytest.raises(SystemExit):
        main([cmd, "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and f"audiocnn {cmd} " in out


def test_sed_cli_writes_events_and_plot(tmp_path, capsys):
    x = tone(1000, 3.0, SR)
    path = write_wav(tmp_path / "s.wav", x, SR)
    ev, png = tmp_path / "events.csv", tmp_path / "sed.png"
    rc = main(["sed", str(path), "--model", "test_cnn_sed", "--events", str(ev), "--plot", str(png), "--threshold", "0.0", "--merge-gap", "0"])
    out = capsys.readouterr().out
    assert rc == 0 and "301 frames at 100 frames/s" in out
    rows = list(csv.DictReader(open(ev)))
    # threshold 0: every class is active on every frame -> one event per class over the whole file
    assert len(rows) == 527
    # the last 10-ms frame starts at 3.0 s: events are clamped to the file's 3 s
    assert {(r["path"], r["onset"], r["offset"]) for r in rows} == {(str(path), "0.000", "3.000")}
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_embed_cli_npz(wavs, tmp_path):
    out = tmp_path / "e.npz"
    assert main(["embed", *map(str, wavs), "--model", "test_cnn", "--out", str(out), "--no-progress", "--workers", "0"]) == 0
    z = np.load(out)
    assert z["embeddings"].shape == (3, 16) and list(z["paths"]) == [str(p) for p in wavs]
    assert str(z["model"]) == "test_cnn" and int(z["sample_rate"]) == SR
    out2 = tmp_path / "w.npz"
    assert main(["embed", str(wavs[1]), "--model", "test_cnn", "--out", str(out2), "--per-window", "--window-seconds", "0.5", "--hop-seconds", "0.25", "--no-progress", "--workers", "0"]) == 0
    z = np.load(out2)
    # 2.0 s file, 0.5-s windows every 0.25 s: centres 0.25, 0.5, ..., 1.75
    np.testing.assert_allclose(z["timestamps"], np.arange(1, 8) * 0.25)
    assert z["embeddings"].shape == (7, 16) and (z["file_index"] == 0).all()


def test_export_cli_prints_parity(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", "--model", "test_cnn", "--format", "onnx", "--out", str(out), "--seconds", "1"]) == 0
    text = capsys.readouterr().out
    assert out.exists() and "max |logit diff|" in text
