"""Does the streaming loader keep up with training? Loader-only clips/s against the clips/s of
cnn6_lite training steps on this CPU (docs/scaling.md).

Packs a synthetic corpus (10-s clips at 16 kHz, FLAC tar shards), then measures:

- loader: one epoch of ShardStream batches through a DataLoader with 0, 1 and 2 worker
  processes (decoding FLAC, cropping, collating; no model);
- training: forward + backward + AdamW step of cnn6_lite on batches of the same shape, with
  ``--threads`` torch threads, after two warm-up steps.

    python benchmarks/stream_throughput.py --clips 2000 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch


def loader_rate(index, workers: int, batch: int, buffer: int) -> float:
    from audiocnn.data.shards import ShardStream

    stream = ShardStream(index, 10.0, batch, shuffle_buffer=buffer, num_workers=workers)
    dl = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=workers, multiprocessing_context="fork" if workers else None)
    t0, n = time.perf_counter(), 0
    for x, _ in dl:
        n += x.shape[0]
    return n / (time.perf_counter() - t0)


def train_rate(batch: int, steps: int, classes: int) -> float:
    import torch.nn.functional as F

    from audiocnn.models import create_model

    model = create_model("cnn6_lite", num_classes=classes).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 160000) * 0.1
    y = torch.zeros(batch, classes)
    y[:, 0] = 1
    for i in range(steps + 2):
        if i == 2:
            t0 = time.perf_counter()
        loss = F.binary_cross_entropy_with_logits(model(x)["logits"], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=2000)
    ap.add_argument("--work", default="/tmp/audiocnn_stream_bench")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--shuffle-buffer", type=int, default=512)
    ap.add_argument("--train-steps", type=int, default=8)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from audiocnn.data.shards import PackOptions, SyntheticSource, pack

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    index = pack(SyntheticSource(args.clips, seconds=10.0, num_classes=50), work / "shards",
                 PackOptions(sample_rate=16000, shard_size=250), num_workers=2, progress=False)
    loader = {w: loader_rate(index, w, args.batch_size, args.shuffle_buffer) for w in args.workers}
    train = train_rate(args.batch_size, args.train_steps, 50)
    shutil.rmtree(work, ignore_errors=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
    print(json.dumps({"command": " ".join([Path(sys.executable).name, *sys.argv]), "commit": commit,
                      "machine": f"{platform.machine()}, {os.cpu_count()} cores", "loader_clips_per_s": loader,
                      "train_clips_per_s": train}, indent=1))
    print("| what | clips/s (10-s clips at 16 kHz, batch %d) |" % args.batch_size)
    print("|---|---:|")
    for w, r in loader.items():
        print(f"| loader, {w} worker process(es) | {r:.0f} |")
    print(f"| cnn6_lite training steps, {args.threads} thread(s) | {train:.1f} |")


if __name__ == "__main__":
    main()
