"""``embed --format npz|parquet|npy``: each file reads back with the library a user would read it
with (numpy, pyarrow, csv), the embeddings, paths and window spans in place, and the files that
failed as ``{path, error}`` records beside them."""

import csv

import numpy as np
import pytest
import torch

from audiocnn.cli import main
from audiocnn.inference.embed import Embedder

from inference_helpers import SR

DURATIONS = [1.5, 2.0, 1.0]  # the conftest's wavs


@pytest.fixture
def inputs(wavs, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"this is not audio at all" * 10)
    return [*wavs, bad]


@pytest.fixture
def per_file(tiny_cnn, inputs):
    return Embedder(tiny_cnn).embed_files(inputs)


def _reference(tiny_cnn, path) -> np.ndarray:
    """The model on the whole file (each file is shorter than the model's 10-s clip: one window)."""
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32")
    assert sr == SR
    with torch.no_grad():
        return tiny_cnn(torch.from_numpy(x)[None])["embedding"][0].numpy()


def test_parquet_reads_back(tiny_cnn, wavs, inputs, per_file, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet output needs pyarrow")
    out = per_file.save(tmp_path / "e.parquet")
    table = pq.read_table(out)
    assert table.column_names == ["path", "window_start", "window_end", "embedding", "error"]
    rows = table.to_pylist()
    assert [r["path"] for r in rows] == [str(p) for p in inputs]
    for r, path, seconds in zip(rows[:3], wavs, DURATIONS):
        assert r["error"] is None
        assert r["window_start"] == 0.0 and r["window_end"] == pytest.approx(seconds, abs=1e-3)
        np.testing.assert_allclose(np.array(r["embedding"], np.float32), _reference(tiny_cnn, path), atol=1e-5)
    failed = rows[3]
    assert failed["embedding"] is None and failed["window_start"] is None
    assert failed["error"]["type"] == "not_audio" and failed["error"]["message"]
    import json

    meta = json.loads(table.schema.metadata[b"audiocnn"])
    assert meta == {"model": "test_cnn", "sample_rate": SR, "dim": 16}


def test_parquet_per_window_spans(tiny_cnn, wavs, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet output needs pyarrow")
    res = Embedder(tiny_cnn, window_seconds=0.5, hop_seconds=0.25).embed_files([wavs[1]], per_window=True)
    rows = pq.read_table(res.save(tmp_path / "w.parquet")).to_pylist()
    # a 2.0-s file, 0.5-s windows every 0.25 s: starts 0, 0.25, ..., 1.5
    np.testing.assert_allclose([r["window_start"] for r in rows], np.arange(7) * 0.25)
    np.testing.assert_allclose([r["window_end"] - r["window_start"] for r in rows], 0.5)
    x = res.embeddings
    with torch.no_grad():
        import soundfile as sf

        audio = torch.from_numpy(sf.read(str(wavs[1]), dtype="float32")[0])
        third = tiny_cnn(audio[None, int(0.5 * SR) : int(1.0 * SR)])["embedding"][0].numpy()
    np.testing.assert_allclose(np.array(rows[2]["embedding"], np.float32), third, atol=1e-5)
    np.testing.assert_allclose(np.array([r["embedding"] for r in rows], np.float32), x, atol=0)


def test_npy_with_its_index(tiny_cnn, wavs, inputs, per_file, tmp_path):
    out = per_file.save(tmp_path / "e.npy")
    array = np.load(out)
    assert array.shape == (3, 16) and array.dtype == np.float32
    with open(tmp_path / "e.csv", newline="") as f:
        index = list(csv.DictReader(f))
    assert list(index[0]) == ["row", "path", "window_start", "window_end", "error_type", "error_message"]
    assert [r["path"] for r in index] == [str(p) for p in inputs]
    for r, path, seconds in zip(index[:3], wavs, DURATIONS):
        np.testing.assert_allclose(array[int(r["row"])], _reference(tiny_cnn, path), atol=1e-5)
        assert float(r["window_start"]) == 0.0 and float(r["window_end"]) == pytest.approx(seconds, abs=1e-3)
        assert r["error_type"] == ""
    assert index[3]["row"] == "" and index[3]["error_type"] == "not_audio" and index[3]["error_message"]


def test_npz_keeps_its_fields_and_gains_the_spans(per_file, tmp_path):
    z = np.load(per_file.save(tmp_path / "e.npz"))
    assert z["embeddings"].shape == (3, 16) and len(z["paths"]) == 3
    assert list(z["failed_types"]) == ["not_audio"]
    np.testing.assert_allclose(z["window_ends"], DURATIONS, atol=1e-3)
    assert (z["window_starts"] == 0).all()


def test_save_refuses_a_name_that_does_not_match_the_format(per_file, tmp_path):
    with pytest.raises(ValueError, match=r"e.npz: the embeddings file must end in .parquet"):
        per_file.save(tmp_path / "e.npz", "parquet")
    with pytest.raises(ValueError, match="format must be one of"):
        per_file.save(tmp_path / "e.npz", "hdf5")


def test_cli_format_flag_and_suffix(inputs, tmp_path, capsys):
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet output needs pyarrow")
    common = ["--model", "test_cnn", "--no-progress", "--workers", "0"]
    out = tmp_path / "e.parquet"
    assert main(["embed", *map(str, inputs), *common, "--format", "parquet", "--out", str(out)]) == 3  # one file failed
    assert pq.read_table(out).num_rows == 4
    out = tmp_path / "by_suffix.npy"
    assert main(["embed", *map(str, inputs[:2]), *common, "--out", str(out)]) == 0
    assert np.load(out).shape == (2, 16) and (tmp_path / "by_suffix.csv").exists()
    capsys.readouterr()
    assert main(["embed", str(inputs[0]), *common, "--format", "npy", "--out", str(tmp_path / "x.npz")]) == 2
    assert "--out" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()
