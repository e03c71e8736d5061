"""Tagging / embedding many files with worker processes or Ray: Parquet rows for every file (errors
included), the same probabilities as the in-process Tagger, resume without redoing files."""

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from audiocnn.inference.distributed import JobSpec, done_paths, read_results, run_files
from audiocnn.inference.tagger import Tagger
from audiocnn.testing import tone, write_wav

pytestmark = pytest.mark.filterwarnings("ignore:.*RANDOM weights.*")


@pytest.fixture(scope="module")
def weights(seeded_checkpoint):
    """One set of weights for every worker and for the reference Tagger."""
    return seeded_checkpoint(5)


@pytest.fixture
def spec(weights):
    return JobSpec("tag", model="test_cnn", checkpoint=weights, options={"batch_size": 4, "clip_seconds": 0.5}, top_k=2)


def _files(root: Path, n: int, bad: bool = True, seconds: float = 0.3) -> Path:
    for i in range(n):
        write_wav(root / f"f{i:03d}.wav", tone(200 + 37 * i, seconds + 0.05 * (i % 4), 16000), 16000)
    if bad:
        (root / "zz_broken.wav").write_text("not audio")
    return root


def test_local_workers_write_every_file_with_the_tagger_probabilities(tmp_path, spec, weights):
    src = _files(tmp_path / "audio", 9)
    s = run_files([src], tmp_path / "out", spec, engine="local", workers=2, chunk_size=3, rows_per_part=4)
    assert (s.written, s.skipped, s.failed) == (10, 0, 1)
    t = read_results(tmp_path / "out").to_pylist()
    assert sorted(r["path"] for r in t) == sorted(str(p) for p in src.iterdir())
    assert len(list((tmp_path / "out").glob("part-*.parquet"))) == 2  # written as it goes: 3+3, then 3+1 rows
    broken = next(r for r in t if r["path"].endswith("zz_broken.wav"))
    assert broken["error"]["type"] == "not_audio" and "not a readable audio file" in broken["error"]["message"]
    assert broken["probabilities"] == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = {r.path: r for r in Tagger("test_cnn", checkpoint=weights, batch_size=4, clip_seconds=0.5).tag([src], top_k=2, errors="record")}
    for r in t:
        if r["error"] is None:
            np.testing.assert_allclose(r["probabilities"], ref[r["path"]].probabilities, atol=1e-5)
            assert r["labels"] == [tag.label for tag in ref[r["path"]].tags]
    meta = pq.read_schema(next((tmp_path / "out").glob("part-*.parquet"))).metadata[b"audiocnn"]
    assert b'"task": "tag"' in meta and b"class_4" in meta


def test_a_second_run_skips_files_already_written(tmp_path, spec):
    src = _files(tmp_path / "audio", 8, bad=False)
    first = sorted(src.iterdir())[:3]
    run_files(first, tmp_path / "out", spec, workers=0)
    (tmp_path / "out" / ".part-x.tmp123.parquet").write_bytes(b"half a file")  # what a kill mid-write leaves
    s = run_files([src], tmp_path / "out", spec, workers=2, chunk_size=2)
    assert (s.written, s.skipped) == (5, 3)
    paths = read_results(tmp_path / "out").column("path").to_pylist()
    assert len(paths) == len(set(paths)) == 8


def test_embed_rows(tmp_path):
    src = _files(tmp_path / "audio", 4)
    s = run_files([src], tmp_path / "out", JobSpec("embed", model="test_cnn", options={"clip_seconds": 0.5}), workers=0)
    rows = read_results(tmp_path / "out").to_pylist()
    assert s.written == 5 and s.failed == 1
    dims = {len(r["embedding"]) for r in rows if r["error"] is None}
    assert len(dims) == 1 and dims.pop() > 0


@pytest.mark.parametrize("task", ["tag", "embed"])
def test_cli_exit_code_and_records_when_some_files_fail(tmp_path, capsys, weights, task):
    """Like the in-process commands: exit 3 when some files failed (0 with --allow-failures), the
    failures as records in the output and on stderr; a resumed run over a folder whose earlier
    rows hold failures still exits 3."""
    from audiocnn.cli import main
    from audiocnn.errors import EXIT_OK, EXIT_PARTIAL

    src = _files(tmp_path / "audio", 3)
    (src / "zz_empty.wav").write_bytes(b"")
    args = [task, str(src), "--engine", "local", "--workers", "0", "--model", "test_cnn", "--checkpoint", weights,
            "--clip-seconds", "0.5", "--out", str(tmp_path / "out"), "--no-progress"]
    assert main(args) == EXIT_PARTIAL
    err = capsys.readouterr().err
    assert "2 of 5 file(s) could not be" in err and "zz_broken.wav: not a readable audio file" in err and "[empty_file]" in err
    assert f"Parquet parts in {tmp_path / 'out'}" in err.splitlines()[-1]
    rows = {Path(r["path"]).name: r for r in read_results(tmp_path / "out").to_pylist()}
    assert len(rows) == 5
    assert rows["zz_broken.wav"]["error"]["type"] == "not_audio" and rows["zz_empty.wav"]["error"]["type"] == "empty_file"
    assert all(rows[f"f{i:03d}.wav"]["error"] is None for i in range(3))
    assert main(args) == EXIT_PARTIAL  # nothing new to do, and the output still holds 2 failures
    assert "0 failed (and 2 in earlier runs)" in capsys.readouterr().err
    assert main([*args, "--allow-failures"]) == EXIT_OK
    (src / "zz_broken.wav").unlink()
    (src / "zz_empty.wav").unlink()
    assert main([*args[:-2], str(tmp_path / "clean"), "--no-progress"]) == EXIT_OK


def test_cli_with_no_audio_file_is_an_error(tmp_path, capsys, weights):
    from audiocnn.cli import main
    from audiocnn.errors import EXIT_ERROR

    (tmp_path / "empty_folder").mkdir()
    assert main(["tag", str(tmp_path / "empty_folder"), "--engine", "local", "--workers", "0", "--model", "test_cnn",
                 "--checkpoint", weights, "--out", str(tmp_path / "out")]) == EXIT_ERROR
    assert "no audio files found" in capsys.readouterr().err


def test_parts_with_the_message_alone_are_read_as_records(tmp_path):
    """An output folder with parts whose error column is a string (the message) reads as records."""
    import pyarrow as pa

    (tmp_path / "out").mkdir()
    pq.write_table(pa.table({"path": ["a.wav", "b.wav"], "embedding": [[0.5], []], "error": [None, "empty file (0 bytes)"]}),
                   tmp_path / "out" / "part-1.parquet")
    rows = read_results(tmp_path / "out").to_pylist()
    assert rows[0]["error"] is None and rows[1]["error"] == {"type": "empty_file", "message": "empty file (0 bytes)"}
    assert done_paths(tmp_path / "out") == {"a.wav", "b.wav"}


@pytest.mark.slow
def test_killed_cli_run_resumes_without_redoing_files(tmp_path):
    # 8-s files in 0.5-s windows: enough work per file that the kill lands part-way on a quiet machine
    src = _files(tmp_path / "audio", 160, bad=False, seconds=8.0)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", "import sys; from audiocnn.inference.distributed import *; "
           f"run_files([{str(src)!r}], {str(out)!r}, JobSpec('tag', model='cnn6_lite', options={{'clip_seconds': 0.5}}), "
           "workers=1, chunk_size=4, rows_per_part=4)"]
    p = subprocess.Popen(cmd, env=env, start_new_session=True)
    t0 = time.time()
    while len(done_paths(out) if out.exists() else ()) < 8 and time.time() - t0 < 120:
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    before = done_paths(out)
    assert 8 <= len(before) < 160, "the run must be killed part-way"
    s = run_files([src], out, JobSpec("tag", model="cnn6_lite", options={"clip_seconds": 0.5}), workers=2, chunk_size=8)
    assert s.skipped == len(before) and s.written == 160 - len(before)
    paths = read_results(out).column("path").to_pylist()
    assert len(paths) == len(set(paths)) == 160


@pytest.mark.slow
def test_ray_engine_on_a_local_ray(tmp_path, spec):
    pytest.importorskip("ray")
    from audiocnn.cli import main
    from audiocnn.errors import EXIT_PARTIAL

    src = _files(tmp_path / "audio", 6)
    s = run_files([src], tmp_path / "out", spec, engine="ray", workers=1, chunk_size=3)
    assert (s.written, s.failed) == (7, 1) and s.failures[0]["error"]["type"] == "not_audio"
    assert main(["tag", str(src), "--engine", "ray", "--workers", "1", "--model", "test_cnn", "--checkpoint", spec.checkpoint,
                 "--clip-seconds", "0.5", "--out", str(tmp_path / "cli"), "--no-progress"]) == EXIT_PARTIAL
    broken = [r for r in read_results(tmp_path / "cli").to_pylist() if r["error"] is not None]
    assert [(Path(r["path"]).name, r["error"]["type"]) for r in broken] == [("zz_broken.wav", "not_audio")]
    again = run_files([src], tmp_path / "out", spec, engine="ray", workers=1)
    assert (again.written, again.skipped) == (0, 7)
    local = run_files([src], tmp_path / "local", spec, workers=0)
    a = {r["path"]: r["probabilities"] for r in read_results(tmp_path / "out").to_pylist()}
    b = {r["path"]: r["probabilities"] for r in read_results(tmp_path / "local").to_pylist()}
    assert local.written == 7 and a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-5)
