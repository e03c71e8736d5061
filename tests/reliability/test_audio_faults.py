"""Every hostile or unlucky audio file gets a named error, and the other files of the batch their
results: load_audio, then tag, sed and embed from the command line."""

import csv
import io
import json

import numpy as np
import pytest

from audiocnn.audio import AudioLoadError, iter_audio_chunks, load_audio
from audiocnn.cli import main
from audiocnn.errors import EXIT_OK, EXIT_PARTIAL, reason_type

from faults import FAULTS, ODD_BUT_VALID, write_all


@pytest.mark.parametrize("case", sorted(FAULTS))
def test_every_fault_is_named(tmp_path, case):
    make, kind = FAULTS[case]
    path = make(tmp_path)
    with pytest.raises(AudioLoadError) as e:
        load_audio(path, 32000)
    assert e.value.code == kind
    assert str(e.value).startswith(f"{path}: ")
    assert reason_type(e.value.reason) == kind  # the training reports classify the same text alike
    with pytest.raises(AudioLoadError) as e2:  # the chunked reader (tag, sed, embed) agrees
        list(iter_audio_chunks(path, 1.0, 32000))
    assert e2.value.code == kind


@pytest.mark.parametrize("case", sorted(ODD_BUT_VALID))
@pytest.mark.parametrize("rate", [8000, 32000])
def test_odd_but_valid_files_give_samples(tmp_path, case, rate):
    path = ODD_BUT_VALID[case](tmp_path)
    x, sr = load_audio(path, rate)
    chunks = list(iter_audio_chunks(path, 1.0, rate))
    assert sr == rate and x.shape[0] >= 1 and np.isfinite(x).all()
    assert sum(c.shape[0] for _, c in chunks) == x.shape[0]


def _batch(tmp_path):
    faults, valid = write_all(tmp_path / "in")
    # a folder on the command line is walked for audio files, so the directory case is load_audio's
    faults = {p: k for p, k in faults.items() if k != "not_a_file"}
    paths = sorted([*faults, *valid])
    return faults, valid, paths


@pytest.mark.parametrize("workers", [0, 1])
def test_tag_batch_keeps_every_result_and_names_every_failure(tmp_path, capsys, workers):
    faults, valid, paths = _batch(tmp_path)
    rc = main(["tag", *paths, "--model", "test_cnn", "--format", "json", "--workers", str(workers), "--no-progress", "--top-k", "2"])
    out, err = capsys.readouterr()
    assert rc == EXIT_PARTIAL and "Traceback" not in err
    rows = json.loads(out)
    assert [r["path"] for r in rows] == paths  # one record per input, in input order
    for r in rows:
        if r["path"] in faults:
            assert r == {"path": r["path"], "error": {"type": faults[r["path"]], "message": r["error"]["message"]}}
            assert r["error"]["message"] and r["path"] in err
        else:
            assert r["error"] is None and len(r["tags"]) == 2 and r["windows"] >= 1


def test_tag_csv_and_table_carry_the_failures(tmp_path, capsys):
    faults, valid, paths = _batch(tmp_path)
    assert main(["tag", *paths, "--model", "test_cnn", "--format", "csv", "--workers", "0", "--no-progress", "--allow-failures"]) == EXIT_OK
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["path"]: r["error_type"] for r in rows if r["error_type"]} == faults
    assert {r["path"] for r in rows if not r["error_type"]} == set(valid)
    assert main(["tag", *paths, "--model", "test_cnn", "--workers", "0", "--no-progress"]) == EXIT_PARTIAL
    table = capsys.readouterr().out
    assert table.count("ERROR ") == len(faults) and "ERROR bad_sample_rate: sample rate 2000000000 Hz" in table


def test_embed_batch_records_failures_in_the_npz(tmp_path, capsys):
    faults, valid, paths = _batch(tmp_path)
    out = tmp_path / "e.npz"
    assert main(["embed", *paths, "--model", "test_cnn", "--out", str(out), "--workers", "0", "--no-progress"]) == EXIT_PARTIAL
    assert "Traceback" not in capsys.readouterr().err
    z = np.load(out)
    assert list(z["paths"]) == sorted(valid) and z["embeddings"].shape[0] == len(valid)
    assert np.isfinite(z["embeddings"]).all()
    assert dict(zip(z["failed_paths"], z["failed_types"])) == faults
    assert all(len(m) > 0 for m in z["failed_reasons"])


@pytest.mark.parametrize("model", ["test_cnn_sed", "test_cnn"])  # frame-level, and clip-level through windows
def test_sed_batch_records_failures_and_keeps_events_inside_files(tmp_path, capsys, model):
    faults, valid, paths = _batch(tmp_path)
    out, events = tmp_path / "sed.json", tmp_path / "events.csv"
    rc = main(["sed", *paths, "--model", model, "--format", "json", "--out", str(out), "--events", str(events),
               "--threshold", "0", "--merge-gap", "0", "--min-duration", "0", "--plot", str(tmp_path / "plots")])
    assert rc == EXIT_PARTIAL and "Traceback" not in capsys.readouterr().err
    rows = json.loads(out.read_text())
    assert [r["path"] for r in rows] == paths
    for r in rows:
        if r["path"] in faults:
            assert r["error"]["type"] == faults[r["path"]]
        else:  # threshold 0: every class is active, so every file has events, all inside it
            assert r["error"] is None and r["events"]
            assert all(0 <= e["onset"] < e["offset"] <= r["duration"] + 1e-9 for e in r["events"]), r["path"]
    ev_rows = list(csv.DictReader(open(events)))
    assert {r["path"]: r["error_type"] for r in ev_rows if r["error_type"]} == faults
    assert len(list((tmp_path / "plots").glob("*.png"))) == len(valid)
