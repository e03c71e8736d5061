"""``audiocnn tag | sed | embed | export``: thin wrappers over :mod:`audiocnn.inference`.

Every file that fails is a record ``{path, error: {type, message}}`` in the output, beside the
successes (:mod:`audiocnn.errors`); the exit code is 0 when every file was processed, 3 when some
failed (0 with ``--allow-failures``), 1 when the command could not run, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from audiocnn.atomic import write_text_atomic
from audiocnn.cli.argtypes import float_range, int_range, output_file
from audiocnn.cli.options import add_command, add_flags, flag, flag_values, printed_warnings
from audiocnn.errors import EXIT_ERROR, FileError, UsageError, exit_status, failure_lines

ORDER = 30

EXIT_CODES_HELP = """exit codes: 0 every file processed; 3 some files failed (their records are in the output
beside the others; 0 with --allow-failures); 1 the command could not run (model, output...);
2 usage error; 130 interrupted. docs/reliability.md has the error types.
"""


def _clean_warnings() -> None:
    """Show library warnings (random weights, padding) as one readable line each."""
    warnings.formatwarning = lambda msg, cat, *a, **k: f"warning: {msg}\n"  # noqa: ARG005


def _default_workers() -> int:
    return max(1, min(2, (os.cpu_count() or 1) - 1))


def _common(p: argparse.ArgumentParser, default_model: str) -> None:
    from audiocnn.inference.runtime import PRECISIONS

    p.add_argument("--checkpoint", help="a checkpoint or model folder written by `audiocnn train` (it says everything about "
                   "the model), or an official PANNs .pth file; without it the model has RANDOM weights")
    p.add_argument("--model", default=None, help=f"registered model name (`audiocnn models`); default: the checkpoint's, or for an "
                   f"official PANNs file the model its file name names; {default_model} without a checkpoint")
    p.add_argument("--precision", default="fp32", choices=PRECISIONS, help="fp32 (default); bf16: bfloat16 with BatchNorm folded and "
                   "Winograd deep convolutions (the fast path on CPUs with native bfloat16); int8: static int8 convolution blocks, "
                   "activation ranges calibrated on the input audio (faster still, probabilities move more; see docs/inference.md)")
    p.add_argument("--calibration", nargs="+", metavar="PATH", help="--precision int8: audio files/folders to calibrate the int8 activation ranges on (up to 128 files spread over them, packed into 16 windows of 5 s), or 'synthetic' for the built-in synthetic set; default: the input audio itself")
    p.add_argument("--batch-size", type=int_range(1), default=8, help="windows per forward pass (default 8)")
    p.add_argument("--threads", type=int_range(1), default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--allow-failures", action="store_true",
                   help="exit with 0 even when some files failed (their records are in the output either way)")


def _exit_code(n_failed: int, n_total: int, args) -> int:
    """0 all good; 3 some files failed (0 with --allow-failures); 1 no input file at all."""
    return exit_status(n_failed, n_total, args.allow_failures)


def _report_failures(failures, n_total: int, what: str) -> None:
    """The failed files on stderr, after the output (they are in the output too)."""
    for line in failure_lines(failures, n_total, what):
        print(line, file=sys.stderr)


def _write_or_print(text: str, out: str | None) -> None:
    if out:
        write_text_atomic(out, text + "\n")
        print(f"wrote {out}", file=sys.stderr)
    else:
        print(text)


def _check_out_file(out: str | None, option: str, *suffixes: str) -> None:
    """``--out`` names a file (with one of ``suffixes``), not a folder: a usage error otherwise."""
    if out is None:
        return
    try:
        output_file(*suffixes)(out)
    except argparse.ArgumentTypeError as e:
        raise UsageError(f"{option}: {e}") from None


@contextmanager
def _interrupted(what: str):
    """Ctrl-C: say that nothing was written (outputs are written when every file is done)."""
    try:
        yield
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"no output written ({what} writes its output when every file is done); run the command again") from None


def _model_name(args, default: str) -> str | None:
    """``--model``, else none when a checkpoint will say (its bundle or file name), else ``default``."""
    return args.model or (None if args.checkpoint else default)


def _calibration(args, inputs, command: str):
    """What ``--precision int8`` calibrates on: ``--calibration`` paths, ``None`` for the built-in
    synthetic set (``--calibration synthetic``), else the command's own input files (which keeps
    the probabilities closest to fp32, docs/inference.md)."""
    if args.calibration and args.precision != "int8":
        raise UsageError(f"--calibration is only used with --precision int8 (audiocnn {command})")
    if args.precision != "int8":
        return None
    if args.calibration == ["synthetic"]:
        return None
    return list(args.calibration or inputs)


def _open_product(cls, args, command: str, default_model: str, **options):
    """``cls`` (Tagger, SoundEventDetector, Embedder) built from the model and runtime flags every
    file command shares (:func:`_common`) and the command's own ``options``; the warnings of
    building it (random weights ...) printed."""
    calibration = _calibration(args, args.paths, command)
    with printed_warnings():
        return cls(_model_name(args, default_model), checkpoint=args.checkpoint, precision=args.precision,
                   batch_size=args.batch_size, num_threads=args.threads, calibration=calibration, **options)


def _results_csv(results, columns: tuple[str, ...], rows_of) -> str:
    """CSV of ``columns`` (``path`` first) + ``error_type,error_message``, in input order: the rows
    ``rows_of(result)`` gives (the cells after the path) for each file, one row with the error
    for a file that failed."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*columns, "error_type", "error_message"])
    blank = [""] * (len(columns) - 1)
    for r in results:
        if r.error is not None:
            e = FileError.from_reason(r.error)
            w.writerow([r.path, *blank, e.type, e.message])
        for cells in rows_of(r):
            w.writerow([r.path, *cells, "", ""])
    return buf.getvalue().rstrip("\n")


# -------------------------------------------------------------------------------------------- tag


TAG_EPILOG = """examples:
  audiocnn tag clip.wav --checkpoint runs/train/fold_1/model        # a model trained by `audiocnn train`
  audiocnn tag clip.wav recordings/ --checkpoint Cnn14_mAP=0.431.pth \\
      --labels class_labels_indices.csv --top-k 3
  audiocnn tag recordings/ --checkpoint Cnn14_mAP=0.431.pth --format csv --out tags.csv
  audiocnn tag recordings/ --checkpoint Cnn14_mAP=0.431.pth --precision bf16   # the fast CPU path
  audiocnn tag recordings/ --checkpoint Cnn14_mAP=0.431.pth --precision int8   # calibrated on recordings/
  audiocnn tag corpus/ --checkpoint Cnn14_mAP=0.431.pth --engine ray --workers 8 --out tags/  # Parquet, resumable

Folders are walked for audio files (.wav .flac .ogg .mp3 ...). Files are decoded and resampled
in worker processes while the model runs. Files longer than --clip-seconds are tagged in windows
and the probabilities averaged (--aggregate max takes the maximum). A file that cannot be read
is a record in the output, in its place: {"path", "error": {"type", "message"}} in JSON, a row
with error_type and error_message in CSV, an ERROR line in the table; and listed on stderr.

""" + EXIT_CODES_HELP


def _format_tags(results, fmt: str) -> str:
    """Successes and failures in input order: JSON records, CSV rows, or a table."""
    if fmt == "json":
        return json.dumps([r.to_dict() for r in results], indent=2)
    if fmt == "csv":
        return _results_csv(results, ("path", "rank", "label", "index", "probability"),
                            lambda r: ([k, t.label, t.index, f"{t.probability:.4f}"] for k, t in enumerate(r.tags, 1)))
    width = min(max((len(r.path) for r in results), default=4), 60)
    lines = [f"{'file':<{width}}  tags"]
    for r in results:
        name = r.path if len(r.path) <= width else "..." + r.path[-(width - 3) :]
        if r.error is not None:
            e = FileError.from_reason(r.error)
            lines.append(f"{name:<{width}}  ERROR {e.type}: {e.message}")
        else:
            lines.append(f"{name:<{width}}  " + ", ".join(f"{t.label} ({t.probability:.3f})" for t in r.tags))
    return "\n".join(lines)


def run_tag(args) -> int:
    _clean_warnings()
    if args.engine:  # many files: worker processes or Ray, resumable Parquet output (docs/scaling.md)
        from audiocnn.cli.distributed import run_distributed_cli

        return run_distributed_cli("tag", args, _model_name(args, "cnn14"))
    _check_out_file(args.out, "--out")
    from audiocnn.inference.tagger import Tagger

    tagger = _open_product(Tagger, args, "tag", "cnn14", labels=args.labels, clip_seconds=args.clip_seconds,
                           aggregate=args.aggregate, backend=args.backend)
    t0 = time.perf_counter()
    with _interrupted("tag"):
        results = tagger.tag(args.paths, top_k=args.top_k, num_workers=args.workers, errors="record", progress=not args.no_progress)
    elapsed = time.perf_counter() - t0
    if not results:
        print(f"audiocnn tag: no audio files found in {' '.join(args.paths)}", file=sys.stderr)
        return EXIT_ERROR
    _write_or_print(_format_tags(results, args.format), args.out)
    failed = [(r.path, r.error) for r in results if r.error is not None]
    n_ok = len(results) - len(failed)
    _report_failures(failed, len(results), "tagged")
    print(f"tagged {n_ok} of {len(results)} file(s) in {elapsed:.2f} s ({n_ok / max(elapsed, 1e-9):.2f} files/s, model loading excluded); "
          f"results: {args.out or 'stdout'}", file=sys.stderr)
    return _exit_code(len(failed), len(results), args)


# -------------------------------------------------------------------------------------------- sed


SED_EPILOG = """examples:
  audiocnn sed street.wav --model cnn14_decision_level_max --checkpoint Cnn14_DecisionLevelMax_mAP=0.385.pth \\
      --labels class_labels_indices.csv --events events.csv --plot sed.png
  audiocnn sed long_recording.flac --checkpoint ... --threshold 0.3 --min-duration 0.5 --merge-gap 1.0
  audiocnn sed recordings/ --checkpoint ... --format json --out events.json --plot plots/   # many files

Frame-level models give probabilities at their frame rate (100 frames/s for PANNs); any
clip-level model works through sliding windows (--window-seconds / --hop-seconds). Long files
are processed in overlapping chunks, so memory stays flat in file length. Events never end after
their file does. With several files, --plot is a folder (one <name>.png per file). A file that
cannot be read is a record in the output in its place (JSON {"path", "error": {"type", "message"}};
a row with error_type and error_message in the events CSV), and the other files are processed.

""" + EXIT_CODES_HELP


# the options of `audiocnn sed` that are keywords of SoundEventDetector, in --help order
SED_FLAGS = (
    flag("--min-duration", type=float_range(0), default=0.1, help="drop events shorter than this (s, default 0.1)"),
    flag("--merge-gap", type=float_range(0), default=0.2, help="merge events of a class separated by at most this (s, default 0.2)"),
    flag("--chunk-seconds", type=float_range(0, low_open=True), default=40.0, help="chunk length for long files (default 40; memory grows with it)"),
    flag("--window-seconds", type=float_range(0, low_open=True), default=None, help="sliding window of clip-level models (default: the checkpoint's clip length, at most 2)"),
    flag("--hop-seconds", type=float_range(0, low_open=True), default=0.5, help="sliding-window hop of clip-level models (default 0.5)"),
)


def _read_class_thresholds(path: str, default: float) -> dict:
    out = {"default": default}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if not row or row[0].strip().lower() in ("label", "display_name") or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise ValueError(f"{path}: expected 'label,threshold' rows, got {row}")
            out[row[0].strip()] = float(row[1])
    return out


def _events_csv(results) -> str:
    """``path,onset,offset,label,score,error_type,error_message``: one row per event, one row per
    failed file."""
    return _results_csv(results, ("path", "onset", "offset", "label", "score"),
                        lambda r: ([f"{ev.onset:.3f}", f"{ev.offset:.3f}", ev.label, f"{ev.score:.4f}"] for ev in r.events))


def _sed_table(results, det, show: int) -> str:
    kind = "frame-level" if det.info.frame_level else f"sliding {det.window / det.sample_rate:g}-s windows"
    lines = []
    for r in results:
        if r.error is not None:
            e = FileError.from_reason(r.error)
            lines.append(f"{r.path}: ERROR {e.type}: {e.message}")
            continue
        lines.append(f"{r.path}: {r.duration:.1f} s, {r.num_frames} frames at {r.frame_rate:g} frames/s ({kind}), {len(r.events)} event(s)")
        lines += [f"  {ev.onset:9.2f} {ev.offset:9.2f}  {ev.label}  ({ev.score:.3f})" for ev in r.events[:show]]
        if len(r.events) > show:
            lines.append(f"  ... {len(r.events) - show} more")
    return "\n".join(lines)


def _plot_paths(results, plot: str) -> list[tuple[object, Path]]:
    """One file: ``--plot`` is the PNG; several: a folder with ``<name>.png`` per file."""
    ok = [r for r in results if r.error is None]
    if len(results) == 1:
        return [(r, Path(plot)) for r in ok]
    out, used = [], set()
    for r in ok:
        stem = Path(r.path).stem
        name, k = stem, 2
        while name in used:
            name, k = f"{stem}_{k}", k + 1
        used.add(name)
        out.append((r, Path(plot) / f"{name}.png"))
    return out


def run_sed(args) -> int:
    _clean_warnings()
    from audiocnn.inference.sed import SoundEventDetector, plot_sed

    _check_out_file(args.out, "--out")
    _check_out_file(args.events, "--events", ".csv")
    thresholds = _read_class_thresholds(args.class_thresholds, args.threshold) if args.class_thresholds else args.threshold
    det = _open_product(SoundEventDetector, args, "sed", "cnn14_decision_level_max", labels=args.labels,
                        thresholds=thresholds, **flag_values(args, SED_FLAGS))
    with _interrupted("sed"):
        results = det.detect_files(args.paths)
    if not results:
        print(f"audiocnn sed: no audio files found in {' '.join(args.paths)}", file=sys.stderr)
        return EXIT_ERROR
    if args.format == "json":
        text = json.dumps([r.to_dict() for r in results], indent=2)
    elif args.format == "csv":
        text = _events_csv(results)
    else:
        text = _sed_table(results, det, args.show)
    _write_or_print(text, args.out)
    if args.events:
        write_text_atomic(args.events, _events_csv(results) + "\n")
        print(f"wrote {args.events}", file=sys.stderr)
    if args.plot:
        for r, png in _plot_paths(results, args.plot):
            plot_sed(r, png, top_k=args.top_k)
            print(f"wrote {png}", file=sys.stderr)
    failed = [(r.path, r.error) for r in results if r.error is not None]
    _report_failures(failed, len(results), "processed")
    where = [f"results: {args.out or 'stdout'}"] + ([f"events: {args.events}"] if args.events else []) + ([f"plots: {args.plot}"] if args.plot else [])
    print(f"sed: {len(results) - len(failed)} of {len(results)} file(s), {sum(len(r.events) for r in results)} event(s); {', '.join(where)}",
          file=sys.stderr)
    return _exit_code(len(failed), len(results), args)


# ------------------------------------------------------------------------------------------ embed


EMBED_EPILOG = """examples:
  audiocnn embed recordings/ --model cnn14 --checkpoint Cnn14_mAP=0.431.pth --out embeddings.npz
  audiocnn embed a.wav b.wav --per-window --window-seconds 1 --hop-seconds 0.5 --out frames.npz
  audiocnn embed recordings/ --checkpoint runs/x/fold_1/model --format parquet --out embeddings.parquet
  audiocnn embed recordings/ --checkpoint runs/x/fold_1/model --format npy --out embeddings.npy

--format (default: the suffix of --out, else npz):
  npz      embeddings (rows, dim), paths, file_index (row -> path), window_starts/window_ends
           (seconds), timestamps (window centres in seconds, with --per-window),
           failed_paths/failed_types/failed_reasons (the files that could not be read, with the
           error type and message), model, sample_rate.
  parquet  one row per embedding: path, window_start, window_end (seconds), embedding
           (list<float>), error (null); a file that failed is a row with its path and
           error {type, message}. Needs pyarrow (pip install "audiocnn[parquet]").
  npy      the (rows, dim) float32 array in --out, and beside it the index X.csv:
           row,path,window_start,window_end,error_type,error_message (failed files: row empty).

""" + EXIT_CODES_HELP


def run_embed(args) -> int:
    _clean_warnings()
    if args.engine:
        from audiocnn.cli.distributed import run_distributed_cli

        return run_distributed_cli("embed", args, _model_name(args, "cnn14"))
    from audiocnn.inference.embed import FORMATS, Embedder

    suffix = Path(args.out).suffix.lower()[1:]
    fmt = args.format or (suffix if suffix in FORMATS else "npz")
    _check_out_file(args.out, "--out", f".{fmt}")
    emb = _open_product(Embedder, args, "embed", "cnn14", clip_seconds=args.clip_seconds,
                        window_seconds=args.window_seconds, hop_seconds=args.hop_seconds)
    with _interrupted("embed"):
        res = emb.embed_files(args.paths, per_window=args.per_window, num_workers=args.workers, progress=not args.no_progress)
    n_total = len(res.paths) + len(res.failed)
    if n_total == 0:
        print(f"audiocnn embed: no audio files found in {' '.join(args.paths)}", file=sys.stderr)
        return EXIT_ERROR
    res.save(args.out, fmt)
    _report_failures(list(res.failed.items()), n_total, "embedded")
    print(f"wrote {args.out}: {res.embeddings.shape[0]} row(s) x {res.embeddings.shape[1]} dims from {len(res.paths)} file(s)")
    return _exit_code(len(res.failed), n_total, args)


# ----------------------------------------------------------------------------------------- export


EXPORT_EPILOG = """examples:
  audiocnn export --model cnn14 --checkpoint Cnn14_mAP=0.431.pth --format onnx --out cnn14.onnx
  audiocnn export --model cnn14 --checkpoint Cnn14_mAP=0.431.pth --format pt2 --out cnn14.pt2

The exported graph maps a waveform (batch, samples) at the model's sample rate to
(logits, embedding); batch and length are dynamic. onnx: the torch.export-based ONNX
exporter (needs the export extra: pip install "audiocnn[export]"), the model's bundle in
the metadata entry audiocnn_bundle. pt2: a torch.export program (torch.export.load(path)
.module() runs it), the bundle in its extra file audiocnn_bundle.json. A parity check against
eager PyTorch (onnxruntime for ONNX, the loaded program for pt2) is printed after the export.
"""


def run_export(args) -> int:
    _clean_warnings()
    from audiocnn.inference.export import export_model
    from audiocnn.inference.loading import open_model

    _check_out_file(args.out, "--out")
    with printed_warnings():
        model, bundle = open_model(_model_name(args, "cnn14"), args.checkpoint)
    res = export_model(model, args.out, args.format, seconds=args.seconds, bundle=bundle)
    print(res.summary())
    print(f"export: {res.path}")
    return 0


# --------------------------------------------------------------------------------------- register


def register(sub) -> None:
    p = add_command(sub, "tag", help="tag audio files with class probabilities", epilog=TAG_EPILOG)
    p.add_argument("paths", nargs="+", metavar="FILE|DIR", help="audio files and/or folders (walked)")
    _common(p, "cnn14")
    p.add_argument("--labels", help="class_labels_indices.csv (index,mid,display_name) or one label per line")
    p.add_argument("--top-k", type=int_range(1), default=5, help="tags per file (default 5)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--out", help="write the results here instead of stdout")
    p.add_argument("--clip-seconds", type=float_range(0, low_open=True), default=None, help="window length (default: the checkpoint's clip length; 10 for PANNs)")
    p.add_argument("--aggregate", choices=("mean", "max"), default=None, help="how window probabilities combine (default: the checkpoint's; mean)")
    p.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch", help="run with PyTorch (default) or export to ONNX and run ONNX Runtime (fp32)")
    p.add_argument("--workers", type=int_range(0), default=_default_workers(), help="decoding processes (default %(default)s; 0 = decode in the main process)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--engine", choices=("local", "ray"), default=None,
                   help="many files: --workers model processes (local) or Ray actors (ray), Parquet parts in the --out folder, "
                        "files already there skipped (docs/scaling.md)")
    p.set_defaults(func=run_tag)

    p = add_command(sub, "sed", help="sound event detection: frame-wise probabilities, events, plot", epilog=SED_EPILOG)
    p.add_argument("paths", nargs="+", metavar="FILE|DIR", help="audio files and/or folders (walked)")
    _common(p, "cnn14_decision_level_max")
    p.add_argument("--labels", help="class_labels_indices.csv or one label per line")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table",
                   help="table (default), json (per file: duration, frames, events, or the error) or csv (one row per event)")
    p.add_argument("--out", help="write the --format output here instead of stdout")
    p.add_argument("--events", help="also write the events here as CSV (path,onset,offset,label,score,error_type,error_message)")
    p.add_argument("--plot", help="write the spectrogram + probability-curve figure here (.png; with several files, a folder)")
    p.add_argument("--threshold", type=float_range(0, 1), default=0.5, help="probability threshold of every class (default 0.5)")
    p.add_argument("--class-thresholds", help="CSV of label,threshold overriding --threshold per class")
    add_flags(p, SED_FLAGS)
    p.add_argument("--top-k", type=int_range(1), default=5, help="classes drawn in the plot (default 5)")
    p.add_argument("--show", type=int_range(0), default=20, help="events printed per file (default 20)")
    p.set_defaults(func=run_sed)

    p = add_command(sub, "embed", help="embeddings of audio files to .npz, Parquet or .npy", epilog=EMBED_EPILOG)
    p.add_argument("paths", nargs="+", metavar="FILE|DIR")
    _common(p, "cnn14")
    p.add_argument("--out", required=True, help="output file, ending in .<format> (a folder with --engine)")
    p.add_argument("--format", choices=("npz", "parquet", "npy"), default=None,
                   help="output format (default: the suffix of --out, else npz); see below")
    p.add_argument("--per-window", action="store_true", help="one row per window (with timestamps) instead of per file")
    p.add_argument("--clip-seconds", type=float_range(0, low_open=True), default=None, help="window averaged for per-file embeddings (default: the checkpoint's clip length; 10 for PANNs)")
    p.add_argument("--window-seconds", type=float_range(0, low_open=True), default=1.0, help="--per-window window length (default 1)")
    p.add_argument("--hop-seconds", type=float_range(0, low_open=True), default=0.5, help="--per-window hop (default 0.5)")
    p.add_argument("--workers", type=int_range(0), default=_default_workers(), help="decoding processes (default %(default)s)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--engine", choices=("local", "ray"), default=None,
                   help="many files: --workers model processes (local) or Ray actors (ray), Parquet parts in the --out folder")
    p.set_defaults(func=run_embed)

    p = add_command(sub, "export", help="export waveform-to-logits to ONNX or a torch.export program (.pt2)", epilog=EXPORT_EPILOG)
    p.add_argument("--checkpoint", help="checkpoint or model folder (its bundle names the model); without it the export has RANDOM weights")
    p.add_argument("--model", default=None, help="registered model name (default: the checkpoint's; cnn14 without a checkpoint)")
    p.add_argument("--format", choices=("onnx", "pt2"), default="onnx")
    p.add_argument("--out", required=True, help="output file (.onnx / .pt2)")
    p.add_argument("--seconds", type=float_range(0, low_open=True), default=10.0, help="length of the example input the graph is captured on (default 10)")
    p.set_defaults(func=run_export)
