"""Load test of ``audiocnn serve`` on loopback against the in-process Tagger.

    python benchmarks/serve_load.py --model cnn14 --precision bf16 --clients 16 --rounds 3 --round-clips 48

1. The service in a child process (``audiocnn serve``, random weights, ``--threads``), on
   127.0.0.1 with a free port, and an in-process :class:`Tagger` of the same model, precision,
   batch size (``--max-batch``) and threads.
2. ``--rounds`` interleaved rounds (the machine may be shared: load from other processes then
   hits both alike), each measuring
   - in-process: :meth:`Tagger.predict_proba` on batches of ``--max-batch`` 10-s clips,
     ``--round-clips`` clips (clips/s);
   - service: ``--clients`` asyncio clients (httpx) each posting the same 10-s 16-bit WAV to
     ``/v1/tag`` in a loop until ``--round-clips`` answers (clips/s, latency of each answer).
   Prints both rates per round, the median ratio, p50/p95/p99 latency over all rounds and the mean
   batch size (from ``/metrics``).
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


def make_tagger(args) -> Tagger:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights
        return Tagger(args.model, precision=args.precision, batch_size=args.max_batch, num_threads=args.threads)


def in_process_rate(tagger: Tagger, clip: np.ndarray, clips: int) -> float:
    """Clips/s of ``Tagger.predict_proba`` on batches of ``tagger.batch_size`` copies of ``clip``."""
    batch = [clip.copy() for _ in range(tagger.batch_size)]
    n, t0 = 0, time.perf_counter()
    while n < clips:
        tagger.predict_proba(batch, sample_rate=tagger.sample_rate)
        n += len(batch)
    return n / (time.perf_counter() - t0)


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


async def run(args, clip: np.ndarray, body: bytes) -> dict:
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_service(args, port)
    child = psutil.Process(proc.pid)
    out: dict = {"rounds": []}
    n_conn = max(args.clients, args.overload_clients) + 4
    limits = httpx.Limits(max_connections=n_conn, max_keepalive_connections=n_conn)
    try:
        async with httpx.AsyncClient(timeout=180, limits=limits) as client:
            tagger = make_tagger(args)
            await wait_ready(client, base, proc)
            await hammer(client, base + "/v1/tag", body, args.max_batch, 2 * args.max_batch, 300, True)  # warm-up
            in_process_rate(tagger, clip, 2 * args.max_batch)  # warm-up
            before = (await client.get(base + "/metrics")).text
            latencies: list[float] = []
            for r in range(args.rounds):
                local = in_process_rate(tagger, clip, args.round_clips)
                lat, st, wall = await hammer(client, base + "/v1/tag", body, args.clients, args.round_clips, args.round_seconds, True)
                latencies += lat
                out["rounds"].append({"in_process": local, "service": st.get(200, 0) / wall, "statuses": st})
                print(f"round {r + 1}: in-process {local:.2f} clips/s, service {st.get(200, 0) / wall:.2f} clips/s {st}", file=sys.stderr)
            after = (await client.get(base + "/metrics")).text
            del tagger
            gc.collect()
            batches = metric(after, 'audiocnn_batch_size_count{kind="tag"}') - metric(before, 'audiocnn_batch_size_count{kind="tag"}')
            clips = metric(after, 'audiocnn_batch_size_sum{kind="tag"}') - metric(before, 'audiocnn_batch_size_sum{kind="tag"}')
            out["latencies"], out["mean_batch"] = latencies, clips / max(batches, 1)

            rss = [(time.perf_counter(), child.memory_info().rss)]
            done = asyncio.Event()

            async def sample():
                while not done.is_set():
                    rss.append((time.perf_counter(), child.memory_info().rss))
                    await asyncio.sleep(0.2)

            sampler = asyncio.create_task(sample())
            _, st_o, wall_o = await hammer(client, base + "/v1/tag", body, args.overload_clients, 10**9, args.overload_seconds, False)
            done.set()
            await sampler
            await asyncio.sleep(1.0)
            out["overload"] = {
                "statuses": st_o, "wall": wall_o, "ok": st_o.get(200, 0),
                "rss_before": rss[0][1], "rss_peak": max(r for _, r in rss), "rss_after": child.memory_info().rss,
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
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients of the load rounds")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved in-process / service rounds")
    ap.add_argument("--round-clips", type=int, default=48, help="clips of each measurement of a round")
    ap.add_argument("--round-seconds", type=float, default=120.0, help="time limit of a service measurement")
    ap.add_argument("--overload-clients", type=int, default=96)
    ap.add_argument("--overload-seconds", type=float, default=15.0)
    args = ap.parse_args(argv)

    sr = audiocnn.create_model(args.model).sample_rate
    clip = make_clip(sr)
    body = wav_bytes(clip, sr)
    decoded, _ = sf.read(io.BytesIO(body), dtype="float32")  # what the service decodes
    res = asyncio.run(run(args, decoded, body))
    rounds, over = res["rounds"], res["overload"]
    ratio = float(np.median([r["service"] / r["in_process"] for r in rounds]))
    p50, p95, p99 = np.percentile(res["latencies"], [50, 95, 99]) if res["latencies"] else [float("nan")] * 3
    mib = 1024 * 1024
    print(f"\n## audiocnn serve load test: {args.model}, {args.precision}, batch {args.max_batch}, {args.threads} threads, 10-s WAV clips, loopback\n")
    print("| measure | value |")
    print("|---|---|")
    local = " / ".join(f"{r['in_process']:.2f}" for r in rounds)
    served = " / ".join(f"{r['service']:.2f}" for r in rounds)
    print(f"| in-process Tagger by round (clips/s) | {local} |")
    print(f"| service, {args.clients} clients, by round (clips/s) | {served} |")
    print(f"| service / in-process, median of the rounds | {ratio:.2f} |")
    print(f"| latency p50 / p95 / p99 (s) | {p50:.3f} / {p95:.3f} / {p99:.3f} |")
    print(f"| mean batch (requests per forward pass) | {res['mean_batch']:.2f} |")
    refused = over["statuses"].get(503, 0)
    other = sum(v for k, v in over["statuses"].items() if k not in (200, 503))
    print(f"| overload: {args.overload_clients} clients for {over['wall']:.1f} s, queue {args.max_queue} | 200: {over['ok']}, 503: {refused}, other: {other} |")
    print(f"| overload: service RSS before / peak / after (MiB) | {over['rss_before'] / mib:.0f} / {over['rss_peak'] / mib:.0f} / {over['rss_after'] / mib:.0f} |")
    print(f"| overload: service RSS peak by the end of each third of the phase (MiB) | {' / '.join(f'{r / mib:.0f}' for r in over['rss_thirds'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
