"""Peak memory of `pack` and of one streaming epoch, at two corpus sizes (docs/scaling.md).

The corpus is generated inside the packer from a seed (audiocnn.data.shards.SyntheticSource:
noise plus one tone per label, Zipf-like labels), so no WAV files are written first. For each
size N: pack N clips of 10 s at 16 kHz (cnn6_lite's rate) into FLAC tar shards with --workers
processes, then read one epoch through the training loader (ShardStream, shuffle buffer, the
DataLoader's worker processes), then train a bounded number of streaming steps of cnn6_lite.
Then, on a small corpus, train a few whole epochs and take the peak within each epoch: the loader
workers are forked again at every epoch, from a process that has trained. Each measurement runs
in a process of its own.
Peak memory is sampled every 0.2 s over the process and all its children: the sum of their
PSS (shared pages divided among the processes that share them), and the sum of their RSS,
which counts the pages that forked workers share with the parent once per process (an upper
bound). The shards are deleted after each
size.

    python benchmarks/pack_stream_memory.py --sizes 20000 40000 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil


class PeakRSS:
    """Samples the memory of this process and its descendants in a thread: the sum of their PSS
    (proportional set size: a page shared by k processes counts 1/k in each, so the sum is the
    memory the tree really holds) and, for reference, the sum of their RSS (shared pages counted
    in every process)."""

    def __init__(self, every: float = 0.2):
        self.every, self.peak, self.peak_rss, self._stop = every, 0, 0, threading.Event()
        self.at_peak_rss: list[dict] = []  # each process at the peak of the RSS sum: role, rss, pss, uss (MB)

    def _sample(self) -> int:
        me = psutil.Process()
        pss = rss = 0
        procs = []
        for p in [me, *me.children(recursive=True)]:
            try:
                m = p.memory_full_info()
                pss, rss = pss + m.pss, rss + m.rss
                procs.append({"role": "main" if p.pid == me.pid else "worker", "rss": round(m.rss / 2**20),
                              "pss": round(m.pss / 2**20), "uss": round(m.uss / 2**20)})
            except psutil.Error:
                pass
        if rss > self.peak_rss:
            self.peak_rss, self.at_peak_rss = rss, procs
        return pss

    def __enter__(self):
        self.peak = self._sample()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self._sample())

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self._sample())


def measure(n: int, work: Path, args) -> dict:
    import torch

    from audiocnn.data.shards import PackOptions, ShardStream, SyntheticSource, pack
    from audiocnn.train import TrainConfig
    from audiocnn.train.stream import StreamOptions, fit_stream, loader_kwargs, reader_buffer

    out = work / f"shards_{n}"
    shutil.rmtree(out, ignore_errors=True)
    src = SyntheticSource(n, seconds=10.0, num_classes=50, seed=0)
    rec = {"clips": n}
    t0 = time.perf_counter()
    with PeakRSS() as m:
        index = pack(src, out, PackOptions(sample_rate=16000, shard_size=1000), num_workers=args.workers, progress=False)
    rec.update(pack_seconds=time.perf_counter() - t0, pack_peak_pss_mb=m.peak / 2**20, pack_peak_rss_sum_mb=m.peak_rss / 2**20,
               packed_gb=sum(s.bytes for s in index.shards) / 1e9, shards=len(index.shards))
    # the loader as training builds it: the process's shuffle buffer split among the workers
    stream = ShardStream(index, 10.0, args.batch_size, shuffle_buffer=reader_buffer(args.shuffle_buffer, args.workers), num_workers=args.workers)
    loader = torch.utils.data.DataLoader(stream, batch_size=None, **loader_kwargs(args.workers))
    t0, clips = time.perf_counter(), 0
    with PeakRSS() as m:
        for x, _ in loader:
            clips += x.shape[0]
    rec.update(epoch_clips=clips, epoch_seconds=time.perf_counter() - t0, epoch_peak_pss_mb=m.peak / 2**20, epoch_peak_rss_sum_mb=m.peak_rss / 2**20,
               epoch_processes_at_peak=m.at_peak_rss)
    cfg = TrainConfig(model="cnn6_lite", epochs=1, batch_size=args.batch_size, clip_seconds=10.0, num_workers=args.workers,
                      progress=False, patience=0, val_fraction=0.0, max_steps=args.train_steps)
    t0 = time.perf_counter()
    with PeakRSS() as m:
        fit_stream(out, cfg, work / f"run_{n}", StreamOptions(shuffle_buffer=args.shuffle_buffer))
    rec.update(train_steps=args.train_steps, train_seconds=time.perf_counter() - t0, train_peak_pss_mb=m.peak / 2**20, train_peak_rss_sum_mb=m.peak_rss / 2**20,
               train_processes_at_peak=m.at_peak_rss)
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(work / f"run_{n}", ignore_errors=True)
    return rec


def measure_epochs(work: Path, args) -> dict:
    """Streaming training over epoch boundaries (the loader's workers are forked again at each
    epoch, from a process that has trained): peak memory within each of ``--epochs-of`` epochs
    on a small corpus of ``--epochs-clips`` clips."""
    from lightning.pytorch.callbacks import Callback

    from audiocnn.data.shards import PackOptions, SyntheticSource, pack
    from audiocnn.train import TrainConfig
    from audiocnn.train.stream import StreamOptions, fit_stream

    out = work / "shards_epochs"
    shutil.rmtree(out, ignore_errors=True)
    pack(SyntheticSource(args.epochs_clips, seconds=10.0, num_classes=50, seed=1), out, PackOptions(sample_rate=16000, shard_size=160),
         num_workers=args.workers, progress=False)
    peaks: list[dict] = []

    class EpochPeaks(Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            m.peak, m.peak_rss = 0, 0

        def on_train_epoch_end(self, trainer, pl_module):
            peaks.append({"epoch": trainer.current_epoch + 1, "peak_pss_mb": m.peak / 2**20, "peak_rss_sum_mb": m.peak_rss / 2**20,
                          "processes_at_peak": m.at_peak_rss})

    cfg = TrainConfig(model="cnn6_lite", epochs=args.epochs_of, batch_size=args.batch_size, clip_seconds=10.0, num_workers=args.workers,
                      progress=False, patience=0, val_fraction=0.0)
    with PeakRSS() as m:
        fit_stream(out, cfg, work / "run_epochs", StreamOptions(shuffle_buffer=args.shuffle_buffer), extra_callbacks=[EpochPeaks()])
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(work / "run_epochs", ignore_errors=True)
    return {"clips": args.epochs_clips, "epochs": peaks}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20000, 40000])
    ap.add_argument("--work", default="/tmp/audiocnn_pack_bench", help="scratch folder (needs ~270 kB per clip)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--shuffle-buffer", type=int, default=512, help="encoded clips per process, split among the workers")
    ap.add_argument("--train-steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs-clips", type=int, default=640, help="corpus of the epoch-boundary phase (0: skip it)")
    ap.add_argument("--epochs-of", type=int, default=3, help="epochs of the epoch-boundary phase")
    ap.add_argument("--json", default=None, help="also write the records here")
    ap.add_argument("--only", default=None, help=argparse.SUPPRESS)  # one measurement (a clip count, or "epochs"), run by the parent
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.only is not None:  # one measurement, in this fresh process; the record on the last line
        rec = measure_epochs(work, args) if args.only == "epochs" else measure(int(args.only), work, args)
        print(json.dumps(rec))
        return
    # each measurement in a process of its own, so that none inherits what an earlier one left
    child = [sys.executable, __file__, "--work", str(work), "--workers", str(args.workers), "--batch-size", str(args.batch_size),
             "--shuffle-buffer", str(args.shuffle_buffer), "--train-steps", str(args.train_steps), "--threads", str(args.threads),
             "--epochs-clips", str(args.epochs_clips), "--epochs-of", str(args.epochs_of)]

    def run(only: str) -> dict:
        r = subprocess.run([*child, "--only", only], capture_output=True, text=True, check=True)
        return json.loads(r.stdout.strip().splitlines()[-1])

    rows = [run(str(n)) for n in args.sizes]
    epochs = run("epochs") if args.epochs_clips > 0 else None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
    info = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "commit": commit, "machine": f"{platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB", "rows": rows, "epochs": epochs}
    print(json.dumps(info, indent=1))
    print("| clips | packed | pack: time, peak PSS (RSS sum) | loader epoch: clips/s, peak PSS (RSS sum) | streaming training: steps, peak PSS (RSS sum) |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['clips']:,} | {r['packed_gb']:.1f} GB, {r['shards']} shards | {r['pack_seconds']:.0f} s, {r['pack_peak_pss_mb']:.0f} MB ({r['pack_peak_rss_sum_mb']:.0f}) | "
              f"{r['epoch_clips'] / r['epoch_seconds']:.0f}, {r['epoch_peak_pss_mb']:.0f} MB ({r['epoch_peak_rss_sum_mb']:.0f}) | "
              f"{r['train_steps']}, {r['train_peak_pss_mb']:.0f} MB ({r['train_peak_rss_sum_mb']:.0f}) |")
    if epochs:
        print(f"\nstreaming training on {epochs['clips']:,} clips, peak PSS (RSS sum) within each epoch: "
              + "; ".join(f"epoch {e['epoch']}: {e['peak_pss_mb']:.0f} MB ({e['peak_rss_sum_mb']:.0f})" for e in epochs["epochs"]))
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
