"""``audiocnn tag|embed --engine local|ray``: many files, worker processes or Ray, resumable Parquet.

Used by :mod:`audiocnn.cli.inference` when ``--engine`` is given; ``--out`` is then a folder of
Parquet parts (docs/scaling.md).
"""

from __future__ import annotations

import sys

__all__ = ["run_distributed_cli"]


def run_distributed_cli(task: str, args, model: str | None) -> int:
    """Run ``task`` over ``args.paths`` with ``--engine``; the exit code of :mod:`audiocnn.errors`:
    3 when some files have a failure row in the output (this run's or an earlier one's; 0 with
    ``--allow-failures``), 1 when no audio file was found."""
    from audiocnn.errors import EXIT_ERROR, exit_status, failure_lines
    from audiocnn.inference.distributed import JobSpec, run_files

    if not args.out:
        raise ValueError(f"--engine {args.engine} writes Parquet parts to a folder: give it with --out")
    if getattr(args, "per_window", False):
        raise ValueError("--per-window is not available with --engine (one row per file)")
    if args.precision == "int8":
        raise ValueError("--engine runs fp32 or bf16 (int8 calibrates on the input audio, which each worker sees only in part)")
    options = {"precision": args.precision, "batch_size": args.batch_size, "clip_seconds": args.clip_seconds}
    if task == "tag":
        options.update(labels=args.labels, aggregate=args.aggregate)
    spec = JobSpec(task, model=model, checkpoint=args.checkpoint, options=options, top_k=getattr(args, "top_k", 5), threads=args.threads or 1)
    s = run_files(args.paths, args.out, spec, engine=args.engine, workers=args.workers, progress=not args.no_progress)
    if s.total == 0:
        print(f"audiocnn {task}: no audio files found in {' '.join(args.paths)}", file=sys.stderr)
        return EXIT_ERROR
    for line in failure_lines([(r["path"], r["error"]) for r in s.failures], s.written, "tagged" if task == "tag" else "embedded"):
        print(line, file=sys.stderr)
    earlier = f" (and {s.failed_before} in earlier runs)" if s.failed_before else ""
    print(f"{task}: {s.written} file(s) written, {s.skipped} already there (skipped), {s.failed} failed{earlier}; "
          f"{s.seconds:.1f} s, {s.files_per_second:.2f} files/s with --workers {s.workers} ({s.engine}); "
          f"Parquet parts in {s.out} (failed files are rows with error set)", file=sys.stderr)
    return exit_status(s.total_failed, s.total, args.allow_failures)
