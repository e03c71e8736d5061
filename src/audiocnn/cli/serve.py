"""``audiocnn serve``: the tagging service and its web page (thin wrapper over
:mod:`audiocnn.serve`)."""

from __future__ import annotations

import ipaddress
import sys
import warnings

from audiocnn.cli.options import add_command, add_flags, flag, flag_values

ORDER = 35

EPILOG = """examples:
  audiocnn serve --model cnn14 --checkpoint Cnn14_mAP=0.431.pth --labels class_labels_indices.csv
  audiocnn serve --checkpoint runs/x/best.pth --port 8080            # a checkpoint of `audiocnn train`
  audiocnn serve --checkpoint ... --api-key-file ~/.audiocnn-key --host 0.0.0.0

  curl -s --data-binary @clip.wav -H 'Content-Type: audio/wav' http://127.0.0.1:8000/v1/tag
  open http://127.0.0.1:8000/ for the web page (drop a file or record from the microphone)

Endpoints: POST /v1/tag, /v1/sed, /v1/embed (audio bytes, multipart file or JSON samples);
GET /v1/models, /healthz, /readyz, /metrics (Prometheus), /openapi.json. Concurrent requests
are merged into one forward pass (--max-batch, --max-wait-ms). A full queue answers 503 with
Retry-After. Binds to 127.0.0.1 unless --host says otherwise. Needs the [serve] extra:
pip install "audiocnn[serve]". See docs/serving.md.
"""


# the options that are fields of ServeConfig, by group, in --help order
ADDRESS_FLAGS = (
    flag("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)"),
    flag("--port", type=int, default=8000, help="TCP port (default 8000)"),
)
LIMIT_FLAGS = (
    flag("--max-batch", type=int, default=8, help="most requests merged into one forward pass (default 8)"),
    flag("--max-wait-ms", type=float, default=5.0, help="longest wait for a batch to fill, ms (default 5)"),
    flag("--max-queue", type=int, default=64, help="requests waiting for the model before 503 + Retry-After (default 64)"),
    flag("--timeout", type=float, default=30.0, help="per-request time limit, seconds; 504 past it (default 30)"),
    flag("--max-upload-mb", type=float, default=50.0, param="max_upload_bytes", convert=lambda mb: int(mb * 1024 * 1024),
         help="largest request body, MiB; 413 past it (default 50)"),
    flag("--max-seconds", type=float, default=600.0, help="longest audio, seconds; 413 past it (default 600)"),
    flag("--max-connections", type=int, default=256, help="open connections before the server answers 503 (default 256)"),
)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_serve(args) -> int:
    try:
        import uvicorn

        from audiocnn.serve import ServeConfig, create_app, load_served_model, read_api_key
    except ImportError as e:
        print(f'audiocnn serve: needs the [serve] extra ({e.name} is missing): pip install "audiocnn[serve]"', file=sys.stderr)
        return 1
    api_key = read_api_key(args.api_key_file) if args.api_key_file else None
    if not _is_loopback(args.host) and api_key is None:
        print(f"warning: listening on {args.host} without an API key: anyone who reaches this address can use the service (--api-key-file)", file=sys.stderr)
    if args.model is None and args.checkpoint is None:
        raise ValueError("give --model NAME (random weights without --checkpoint) or --checkpoint FILE")
    config = ServeConfig(**flag_values(args, ADDRESS_FLAGS + LIMIT_FLAGS), top_k=args.top_k, api_key=api_key)

    def loader():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = load_served_model(args.model, args.checkpoint, labels=args.labels, precision=args.precision, max_batch=args.max_batch, num_threads=args.threads, sed_threshold=args.threshold)
        for msg in dict.fromkeys(str(w.message) for w in caught):  # once each, not once per product
            print(f"warning: {msg}", file=sys.stderr)
        return model

    app = create_app(config, loader=loader)
    print(f"audiocnn serve: http://{args.host}:{args.port}/ (loading the model; /readyz answers 200 when ready)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, limit_concurrency=args.max_connections, log_level=args.log_level, access_log=args.access_log, timeout_graceful_shutdown=10)
    return 0


def register(sub) -> None:
    from audiocnn.inference.runtime import PRECISIONS

    p = add_command(sub, "serve", help="HTTP service for tagging, SED and embeddings, with a web page", epilog=EPILOG)
    g = p.add_argument_group("model")
    g.add_argument("--model", help="registered model name (see `audiocnn models`); default: the name stored in --checkpoint")
    g.add_argument("--checkpoint", help="weights (.pth, official PANNs or audiocnn); without it the model has RANDOM weights")
    g.add_argument("--labels", help="class_labels_indices.csv or one label per line (default: the checkpoint's)")
    g.add_argument("--precision", default="bf16", choices=PRECISIONS, help="bf16 (default, the fast path: BatchNorm folded, Winograd deep convolutions; on a CPU without native bf16 fp32 is faster), fp32 or int8 (calibrated on a built-in synthetic set)")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    g.add_argument("--threshold", type=float, default=0.5, help="SED: probability at which a class is active (default 0.5)")
    g.add_argument("--top-k", type=int, default=5, help="tags returned by /v1/tag unless the request says (default 5)")
    g = p.add_argument_group("network")
    add_flags(g, ADDRESS_FLAGS)
    g.add_argument("--api-key-file", help="file holding an API key (mode 600); /v1/* and /metrics then need 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")
    g.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"), help="uvicorn log level (default info)")
    g.add_argument("--access-log", action="store_true", help="log every request")
    g = p.add_argument_group("batching and limits")
    add_flags(g, LIMIT_FLAGS)
    p.set_defaults(func=run_serve)
