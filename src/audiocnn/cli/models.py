"""``audiocnn models``: the model zoo with sizes and costs (a thin wrapper of
:func:`audiocnn.models.analysis.zoo_stats`)."""

from __future__ import annotations

import argparse
import json
import sys

from audiocnn.cli.options import add_command

ORDER = 10

EPILOG = """examples:
  audiocnn models                      # every model: input, rate, parameters, MACs per 10-s clip
  audiocnn models 'cnn14*'             # shell wildcard on the registry name
  audiocnn models 'test_*' --json      # machine-readable
  audiocnn models mobilenet_v1 --seconds 1
  audiocnn models 'imagenet_*' --seconds 5 --time   # + CPU inference time per 5-s clip

Parameters are trainable parameters. MACs are multiply-accumulates of the Conv/Linear layers for
one clip, plus the STFT counted as the DFT convolution of the original PANNs code (column "STFT");
the PANNs paper's "multi-adds" are about 2 x MACs (column "paper-style"). Details: docs/models.md.
Figures are cached in ~/.cache/audiocnn/model_stats.json (--no-cache to recompute); --time
(fp32, batch 1, torch's current threads, median of --repeats passes) is measured every time.
"""

_COLUMNS = [("name", 26), ("input", 13), ("rate", 6), ("params (M)", 10), ("MACs (G)", 9), ("STFT (G)", 8), ("paper-style (G)", 15), ("frame-level", 11)]


def register(subparsers) -> None:
    p = add_command(subparsers, "models", help="list the model zoo with parameters and multiply-accumulates",
                    description="List registered models: input, sample rate, trainable parameters, "
                    "multiply-accumulates per clip and whether they emit frame-wise outputs.",
                    epilog=EPILOG)
    p.add_argument("pattern", nargs="?", default=None, help="shell wildcard on model names (default: all but test_*)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument("--seconds", type=float, default=10.0, help="clip length for the MAC count (default: 10)")
    p.add_argument("--include-test", action="store_true", help="also list the test-size test_* models")
    p.add_argument("--no-cache", action="store_true", help="recompute instead of reading the on-disk cache")
    p.add_argument("--time", action="store_true", help="also measure CPU inference time per clip (ms, fp32, batch 1)")
    p.add_argument("--repeats", type=int, default=5, help="timed passes per model for --time (median; default 5)")
    p.add_argument("--threads", type=int, default=None, help="torch threads for --time (default: torch's)")
    p.set_defaults(func=run)


def _row(cells: list[str], columns=_COLUMNS) -> str:
    return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, (_, w)) in enumerate(zip(cells, columns))).rstrip()


def run(args: argparse.Namespace) -> int:
    from audiocnn.models.analysis import zoo_stats

    if args.seconds <= 0:
        raise ValueError(f"--seconds must be positive, got {args.seconds}")
    stats = zoo_stats(args.pattern, seconds=args.seconds, include_test=args.include_test, cache=not args.no_cache)
    columns = _COLUMNS + ([("CPU ms", 9)] if args.time else [])
    if args.time:
        import torch

        from audiocnn.models.analysis import time_inference

        if args.threads:
            torch.set_num_threads(args.threads)
    ms = (lambda name: time_inference(name, args.seconds, repeats=args.repeats)) if args.time else None
    if args.json:
        out = [dict(s.to_dict(), paper_style_gflops=round(s.paper_style_gflops, 3), **({"cpu_ms": round(ms(s.name), 2)} if ms else {})) for s in stats]
        json.dump(out, sys.stdout, indent=1)
        print()
        return 0
    timing = f"; CPU ms: fp32 forward, median of {args.repeats}, {torch.get_num_threads()} thread(s)" if ms else ""
    print(f"per {args.seconds:g}-s clip, batch of 1{timing}")
    print(_row([name for name, _ in columns], columns))
    listed = 0
    for s in stats:  # printed as computed: the first run builds every model once
        listed += 1
        cells = [
            s.name,
            s.input,
            str(s.sample_rate),
            f"{s.params / 1e6:.3f}",
            f"{s.macs / 1e9:.3f}",
            f"{s.frontend_macs / 1e9:.3f}",
            f"{s.paper_style_gflops:.3f}",
            "yes" if s.frame_level else "no",
        ]
        if ms:
            cells.append(f"{ms(s.name):.1f}")
        print(_row(cells, columns), flush=True)
    print(f"models: {listed} listed (audiocnn models --json for every field)", file=sys.stderr)
    return 0
