"""Load test of ``audiocnn serve`` on loopback against the in-process Tagger.

    python benchmarks/serve_load.py --model cnn14 --precision bf16 --clients 16 --requests 160

1. In-process baseline: :meth:`Tagger.predict_proba` on batches of ``--max-batch`` 10-s clips at
   the same precision and thread count (clips/s), measured before the service starts and again
   after it stops (the machine may be shared: both are printed, the mean is the reference).
2. The service in a child process (``audiocnn serve``, random weights, ``--threads``), on
   127.0.0.1 with a free port. ``--clients`` asyncio clients (httpx) each post the same 10-s
   16-bit WAV to ``/v1/tag`` in a loop until ``--requests`` answers or ``--seconds`` have passed.
   Prints clips/s, its ratio to the baseline, p50/p95/p99 latency and the mean batch size (from
   ``/metrics``).
3. Overload: ``--overload-clients`` clients post without pause for ``--overload-seconds`` to a
   service whose queue holds ``--max-queue`` requests. Prints the answers by status (503 =
   refused with Retry-After) and the child's resident memory before, at its peak during, and
   after the phase, and its peak by the end of each third of the phase (flat when bounded).

Every loop is bounded in count and time; traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import psutil
import soundfile as sf

import audiocnn
from audiocnn.inference.tagger import Tagger

CLIP_SECONDS = 10.0


def make_clip(sample_rate: int, seed: int = 0) -> np.ndarray:
    """10 s of tones and noise, float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(CLIP_SECONDS * sample_rate)) / sample_rate
    x = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1730 * t) + 0.05 * rng.standard_normal(t.shape)
    return x.astype(np.float32)


def wav_bytes(x: np.ndarray, sample_rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def baseline(args, clip: np.ndarray, sample_rate: int) -> float:
    """In-process clips/s of ``Tagger.predict_proba`` on batches of ``max_batch`` clips."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tagger = Tagger(args.model, precision=args.precision, batch_size=args.max_batch, num_threads=args.threads)
    batch = [clip.copy() for _ in range(args.max_batch)]
    tagger.predict_proba(batch)  # warm-up
    n, t0 = 0, time.perf_counter()
    while n < args.baseline_clips:
        tagger.predict_proba(batch, sample_rate=sample_rate)
        n += len(batch)
    rate = n / (time.perf_counter() - t0)
    del tagger
    gc.collect()
    return rate


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(args, port: int) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "audiocnn.cli", "serve", "--model", args.model, "--precision", args.precision,
        "--host", "127.0.0.1", "--port", str(port), "--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms),
        "--max-queue", str(args.max_queue), "--timeout", "120", "--log-level", "warning",
    ]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    print("service:", " ".join(cmd[1:]), file=sys.stderr)
    log = tempfile.TemporaryFile()  # unnamed; read back only if the service dies
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    proc.log_file = log
    return proc


async def wait_ready(client, base: str, proc: subprocess.Popen, limit: float = 300.0) -> None:
    deadline = time.time() + limit
    while time.time() < deadline:
        if proc.poll() is not None:
            proc.log_file.seek(0)
            raise RuntimeError("the service exited: " + proc.log_file.read().decode()[-2000:])
        try:
            if (await client.get(base + "/readyz")).status_code == 200:
                return
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        await asyncio.sleep(0.25)
    raise RuntimeError("the service did not become ready")


async def hammer(client, url: str, body: bytes, clients: int, max_requests: int, seconds: float, pause_on_503: bool) -> tuple[list[float], dict[int, int], float]:
    """``clients`` loops posting ``body``; returns (latencies of 200s, count by status, wall s)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sent = 0
    stop_at = time.perf_counter() + seconds
    headers = {"Content-Type": "audio/wav"}

    async def one_client():
        nonlocal sent
        while sent < max_requests and time.perf_counter() < stop_at:
            sent += 1
            t0 = time.perf_counter()
            try:
                r = await client.post(url, content=body, headers=headers)
                code = r.status_code
            except Exception:  # noqa: BLE001 - counted as status 0
                code = 0
            statuses[code] = statuses.get(code, 0) + 1
            if code == 200:
                latencies.append(time.perf_counter() - t0)
            elif code == 503 and pause_on_503:
                await asyncio.sleep(float(r.headers.get("retry-after", 1)))

    t0 = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    return latencies, statuses, time.perf_counter() - t0


def metric(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, flags=re.M)
    return float(m.group(1)) if m else float("nan")


async def run_service(args, body: bytes) -> dict:
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_service(args, port)
    child = psutil.Process(proc.pid)
    out: dict = {}
    limits = httpx.Limits(max_connections=max(args.clients, args.overload_clients) + 4, max_keepalive_connections=max(args.clients, args.overload_clients) + 4)
    try:
        async with httpx.AsyncClient(timeout=180, limits=limits) as client:
            await wait_ready(client, base, proc)
            await hammer(client, base + "/v1/tag", body, args.max_batch, 2 * args.max_batch, 120, True)  # warm-up
            before = (await client.get(base + "/metrics")).text
            lat, st, wall = await hammer(client, base + "/v1/tag", body, args.clients, args.requests, args.seconds, True)
            after = (await client.get(base + "/metrics")).text
            batches = metric(after, 'audiocnn_batch_size_count{kind="tag"}') - metric(before, 'audiocnn_batch_size_count{kind="tag"}')
            clips = metric(after, 'audiocnn_batch_size_sum{kind="tag"}') - metric(before, 'audiocnn_batch_size_sum{kind="tag"}')
            out["load"] = {"ok": st.get(200, 0), "statuses": st, "wall": wall, "latencies": lat, "mean_batch": clips / max(batches, 1)}

            rss = [(time.perf_counter(), child.memory_info().rss)]
            done = asyncio.Event()

            async def sample():
                while not done.is_set():
                    rss.append((time.perf_counter(), child.memory_info().rss))
                    await asyncio.sleep(0.2)

            sampler = asyncio.create_task(sample())
            rss_before = rss[0][1]
            lat_o, st_o, wall_o = await hammer(client, base + "/v1/tag", body, args.overload_clients, 10**9, args.overload_seconds, False)
            done.set()
            await sampler
            await asyncio.sleep(1.0)
            out["overload"] = {
                "statuses": st_o, "wall": wall_o, "ok": st_o.get(200, 0), "latencies": lat_o,
                "rss_before": rss_before, "rss_peak": max(r for _, r in rss), "rss_after": child.memory_info().rss,
                # resident memory at the end of each third of the phase: flat = bounded
                "rss_thirds": [max(r for t, r in rss if t <= rss[0][0] + k * wall_o / 3) for k in (1, 2, 3)],
            }
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="cnn14", help="registered model (random weights; default cnn14)")
    ap.add_argument("--precision", default="bf16", choices=("fp32", "bf16"))
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the baseline and of the service (default 2)")
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--max-queue", type=int, default=16, help="the service's queue (small, so that the overload phase reaches it)")
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients of the load phase")
    ap.add_argument("--requests", type=int, default=160, help="answers of the load phase (at most)")
    ap.add_argument("--seconds", type=float, default=120.0, help="time limit of the load phase")
    ap.add_argument("--baseline-clips", type=int, default=64, help="clips of each in-process measurement")
    ap.add_argument("--overload-clients", type=int, default=96)
    ap.add_argument("--overload-seconds", type=float, default=15.0)
    args = ap.parse_args(argv)

    sr = audiocnn.create_model(args.model).sample_rate
    clip = make_clip(sr)
    body = wav_bytes(clip, sr)
    decoded, _ = sf.read(io.BytesIO(body), dtype="float32")  # what the service sees
    base1 = baseline(args, decoded, sr)
    print(f"in-process Tagger ({args.model}, {args.precision}, batch {args.max_batch}, {args.threads} threads): {base1:.2f} clips/s", file=sys.stderr)
    res = asyncio.run(run_service(args, body))
    base2 = baseline(args, decoded, sr)
    ref = (base1 + base2) / 2
    load, over = res["load"], res["overload"]
    rate = load["ok"] / load["wall"]
    p50, p95, p99 = (np.percentile(load["latencies"], [50, 95, 99]) if load["latencies"] else [float("nan")] * 3)
    mib = 1024 * 1024
    print(f"\n## audiocnn serve load test: {args.model}, {args.precision}, 10-s WAV clips, loopback\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| in-process Tagger, before / after (clips/s) | {base1:.2f} / {base2:.2f} |")
    print(f"| service, {args.clients} clients (clips/s) | {rate:.2f} ({load['ok']} answers in {load['wall']:.1f} s; statuses {load['statuses']}) |")
    print(f"| service / in-process | {rate / ref:.2f} |")
    print(f"| latency p50 / p95 / p99 (s) | {p50:.3f} / {p95:.3f} / {p99:.3f} |")
    print(f"| mean batch (requests per forward pass) | {load['mean_batch']:.2f} |")
    refused = over["statuses"].get(503, 0)
    print(f"| overload: {args.overload_clients} clients for {over['wall']:.1f} s, queue {args.max_queue} | 200: {over['ok']}, 503: {refused}, other: {sum(v for k, v in over['statuses'].items() if k not in (200, 503))} |")
    print(f"| overload: service RSS before / peak / after (MiB) | {over['rss_before'] / mib:.0f} / {over['rss_peak'] / mib:.0f} / {over['rss_after'] / mib:.0f} |")
    print(f"| overload: service RSS peak by the end of each third of the phase (MiB) | {' / '.join(f'{r / mib:.0f}' for r in over['rss_thirds'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
