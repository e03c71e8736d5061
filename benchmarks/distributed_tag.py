"""`audiocnn tag --engine local|ray` over many files: files/s against --workers, and a killed
Ray run that resumes without redoing finished files (docs/scaling.md).

Writes ``--files`` WAV files (2-s tones at 16 kHz, one in 100 unreadable), then for each engine
and worker count runs the command into a fresh Parquet folder and reads the files/s it prints.
Finally starts ``--engine ray`` again, kills it (SIGKILL on its process group) once a quarter
of the rows are written, reruns the same command and checks that every file has exactly one row
and that the rerun skipped every row the killed run had written. The model is cnn6_lite with
random weights (the figures are about the data path, not the tags).

    python benchmarks/distributed_tag.py --files 2000 --workers 1 2
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def run(cmd: list[str]) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(r.stderr[-3000:])
    return r.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--engines", nargs="+", default=["local", "ray"])
    ap.add_argument("--work", default="/tmp/audiocnn_tag_bench")
    args = ap.parse_args()
    from audiocnn.inference.distributed import done_paths, read_results
    from audiocnn.testing import tone, write_wav

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    audio = work / "audio"
    rng = np.random.default_rng(0)
    for i in range(args.files):
        if i % 100 == 99:
            (audio / f"{i:05d}.wav").parent.mkdir(parents=True, exist_ok=True)
            (audio / f"{i:05d}.wav").write_text("not audio")
        else:
            write_wav(audio / f"{i:05d}.wav", tone(rng.uniform(100, 4000), 2.0, 16000) + 0.01 * rng.standard_normal(32000).astype(np.float32), 16000)
    base = [sys.executable, "-m", "audiocnn.cli", "tag", str(audio), "--model", "cnn6_lite", "--clip-seconds", "2", "--no-progress", "--threads", "1"]
    print("| engine | --workers | files/s | rows |")
    print("|---|---:|---:|---:|")
    for engine in args.engines:
        for w in args.workers:
            out = work / f"{engine}_{w}"
            text = run([*base, "--engine", engine, "--workers", str(w), "--out", str(out)])
            rate = float(re.search(r"([\d.]+) files/s", text).group(1))
            print(f"| {engine} | {w} | {rate:.1f} | {read_results(out).num_rows} |", flush=True)
    # kill a Ray run a quarter of the way, then resume it
    out = work / "ray_killed"
    cmd = [*base, "--engine", "ray", "--workers", str(max(args.workers)), "--out", str(out)]
    p = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    while len(done_paths(out) if out.exists() else ()) < args.files // 4 and p.poll() is None:
        time.sleep(0.2)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    before = len(done_paths(out))
    text = run(cmd)
    skipped = int(re.search(r"(\d+) already in", text).group(1))
    written = int(re.search(r"(\d+) file\(s\) written", text).group(1))
    paths = read_results(out).column("path").to_pylist()
    print(f"\nkilled Ray run: {before} rows written before the kill; the rerun skipped {skipped} and wrote {written}; "
          f"{len(paths)} rows, {len(set(paths))} distinct paths for {args.files} files")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
