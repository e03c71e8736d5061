"""Tagging and embedding of many files: local worker processes or a Ray cluster, Parquet output,
resumable.

Each worker (a process, or a Ray actor) builds the model once and processes chunks of files
with :class:`~audiocnn.inference.tagger.Tagger` or :class:`~audiocnn.inference.embed.Embedder`,
one torch thread each. The driver writes the rows to ``out/part-*.parquet``, a part every
``rows_per_part`` rows, each written under a temporary (hidden) name and renamed, so a killed
run leaves only whole parts. A new run over the same output skips every path that already has
a row (failures included: they are rows with ``error`` set) and processes the rest.

Columns (``pyarrow.parquet.read_table(out)`` or :func:`read_results` reads them all):

- tag: ``path``, ``labels`` (top-k), ``scores`` (their probabilities), ``probabilities`` (all
  classes, float32), ``duration`` (s), ``windows``, ``error``;
- embed: ``path``, ``embedding`` (float32), ``error``.

``error`` is null for a file that was processed, else the ``{type, message}`` of the failure
record (:mod:`audiocnn.errors`): a failed file is a row in its place, so a row reads as the
record ``{"path", "error": {"type", "message"}}`` of the other commands' outputs.

The schema metadata ``audiocnn`` (JSON) holds the task, the model and the class labels.
Ray is optional (``pip install 'audiocnn[ray]'``): ``engine="ray"`` joins the cluster at
``ray_address`` or starts a local one (``ray.init()``) with one actor per worker.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from audiocnn.atomic import atomic_path
from audiocnn.errors import FileError
from audiocnn.inference.stream import expand_paths

__all__ = ["ENGINES", "JobSpec", "RunSummary", "done_paths", "process_files", "read_results", "run_files"]

log = logging.getLogger("audiocnn.inference")

ENGINES = ("local", "ray")
TASKS = ("tag", "embed")


@dataclass(frozen=True)
class JobSpec:
    """What each worker builds and runs.

    Attributes:
        task: ``"tag"`` or ``"embed"``.
        model, checkpoint: as :class:`~audiocnn.inference.tagger.Tagger`.
        options: further keyword arguments of ``Tagger`` / ``Embedder`` (labels, precision,
            batch_size, clip_seconds, aggregate...).
        top_k: tags kept in ``labels`` / ``scores``.
        threads: torch threads per worker.
    """

    task: str
    model: str | None = None
    checkpoint: str | None = None
    options: dict = field(default_factory=dict)
    top_k: int = 5
    threads: int = 1

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")


@dataclass
class RunSummary:
    """What :func:`run_files` did: rows written now, paths skipped (done before), failures now
    (``failures``: their records), and failures among the skipped rows (``failed_before``)."""

    out: str
    written: int
    skipped: int
    failed: int
    seconds: float
    workers: int
    engine: str
    failed_before: int = 0
    failures: list[dict] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Input files that have a row in the output (this run's and earlier ones)."""
        return self.written + self.skipped

    @property
    def total_failed(self) -> int:
        """Input files whose row is a failure (this run's and earlier ones)."""
        return self.failed + self.failed_before

    @property
    def files_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


# -- worker side -------------------------------------------------------------------------------
_RUNNER: dict = {}


def _runner(spec: JobSpec):
    key = json.dumps(asdict(spec), sort_keys=True, default=str)
    if _RUNNER.get("key") != key:
        if spec.task == "tag":
            from audiocnn.inference.tagger import Tagger as cls
        else:
            from audiocnn.inference.embed import Embedder as cls
        _RUNNER.update(key=key, obj=cls(spec.model, checkpoint=spec.checkpoint, num_threads=spec.threads, **spec.options))
    return _RUNNER["obj"]


def describe(spec: JobSpec) -> dict:
    """The schema metadata of the output: task, model, labels, sample rate."""
    r = _runner(spec)
    labels = list(getattr(r, "labels", []) or [])
    name = getattr(getattr(r, "info", None), "name", None) or getattr(getattr(r, "bundle", None), "model", None) or spec.model
    return {"task": spec.task, "model": name, "checkpoint": spec.checkpoint, "labels": labels, "sample_rate": int(r.sample_rate)}


def _error(err) -> dict | None:
    return None if err is None else FileError.from_reason(err).to_dict()


def process_files(spec: JobSpec, paths: list[str]) -> list[dict]:
    """Rows of ``paths`` (one per path, in order; a file that failed gets ``error``:
    ``{"type", "message"}``)."""
    r = _runner(spec)
    if spec.task == "tag":
        rows = []
        for res in r.tag(paths, top_k=spec.top_k, num_workers=0, errors="record"):
            ok = res.error is None
            rows.append({
                "path": res.path, "labels": [t.label for t in res.tags], "scores": [t.probability for t in res.tags],
                "probabilities": res.probabilities.astype(np.float32) if ok else np.zeros(0, np.float32),
                "duration": float(res.duration), "windows": int(res.windows), "error": _error(res.error),
            })
        return rows
    res = r.embed_files(paths, num_workers=0)
    emb = {p: e for p, e in zip(res.paths, res.embeddings)}
    rows = []
    for p in expand_paths(paths):
        p = str(p)
        rows.append({"path": p, "embedding": emb.get(p, np.zeros(0, np.float32)).astype(np.float32),
                     "error": _error(res.failed.get(p)) if p not in emb else None})
    return rows


def _init_local(spec: JobSpec) -> None:
    import torch

    torch.set_num_threads(spec.threads)
    _runner(spec)


def _local_chunk(args: tuple[JobSpec, list[str]]) -> list[dict]:
    return process_files(*args)


class _RayModel:
    """A Ray Data actor: builds the model once, maps batches of paths to rows (a pyarrow table)."""

    def __init__(self, spec: JobSpec):
        _init_local(spec)
        self.spec = spec

    def __call__(self, batch: dict):
        return _table(process_files(self.spec, [str(p) for p in batch["path"]]), self.spec.task)


# -- output ------------------------------------------------------------------------------------
def _schema(task: str, meta: dict | None = None):
    try:
        import pyarrow as pa
    except ImportError as e:
        raise ImportError("Parquet output needs pyarrow: pip install 'audiocnn[ray]' (or pyarrow alone for engine='local')") from e

    error = pa.struct([("type", pa.string()), ("message", pa.string())])
    if task == "tag":
        fields = [("path", pa.string()), ("labels", pa.list_(pa.string())), ("scores", pa.list_(pa.float32())),
                  ("probabilities", pa.list_(pa.float32())), ("duration", pa.float64()), ("windows", pa.int32()), ("error", error)]
    else:
        fields = [("path", pa.string()), ("embedding", pa.list_(pa.float32())), ("error", error)]
    return pa.schema(fields, metadata={"audiocnn": json.dumps(meta)} if meta else None)


def _table(rows: list[dict], task: str, meta: dict | None = None):
    import pyarrow as pa

    schema = _schema(task, meta)
    cols = {f.name: [r[f.name] for r in rows] for f in schema}
    for name in ("probabilities", "embedding"):
        if name in cols:
            cols[name] = [np.asarray(v, np.float32).tolist() for v in cols[name]]
    return pa.table(cols, schema=schema)


def _write_part(out: Path, rows: list[dict], task: str, meta: dict) -> None:
    import pyarrow.parquet as pq

    with atomic_path(out / f"part-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.parquet") as tmp:
        pq.write_table(_table(rows, task, meta), tmp)


def _done_rows(out: str | os.PathLike) -> dict[str, bool]:
    """Path -> whether its row is a failure, for every row of ``out`` (unreadable parts are
    ignored, and their files redone)."""
    import pyarrow.parquet as pq

    done: dict[str, bool] = {}
    for part in sorted(Path(out).glob("part-*.parquet")):
        try:
            t = pq.read_table(part, columns=["path", "error"])
        except Exception as e:  # noqa: BLE001 - a damaged part is reported and its files redone
            log.warning("%s: unreadable (%s); its files will be processed again", part, e)
            continue
        done.update(zip(t.column("path").to_pylist(), t.column("error").is_valid().to_pylist()))
    return done


def done_paths(out: str | os.PathLike) -> set[str]:
    """Paths that already have a row in ``out`` (unreadable parts are ignored, and redone)."""
    return set(_done_rows(out))


def _struct_errors(table):
    """A part whose ``error`` column holds the message alone (a string) -> ``{type, message}``."""
    import pyarrow as pa

    col = table.column("error")
    if not pa.types.is_string(col.type):
        return table
    errors = [None if m is None else FileError.from_reason(m).to_dict() for m in col.to_pylist()]
    target = pa.struct([("type", pa.string()), ("message", pa.string())])
    return table.set_column(table.schema.get_field_index("error"), pa.field("error", target), pa.array(errors, target))


def read_results(out: str | os.PathLike):
    """All rows of ``out`` as one pyarrow table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = sorted(Path(out).glob("part-*.parquet"))
    if not parts:
        raise FileNotFoundError(f"{out}: no part-*.parquet files")
    return pa.concat_tables([_struct_errors(pq.read_table(p)) for p in parts], promote_options="default")


# -- driver ------------------------------------------------------------------------------------
def _local_rows(todo: list[str], spec: JobSpec, workers: int, chunk: int):
    chunks = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]
    if workers <= 0:
        _init_local(spec)
        for c in chunks:
            yield process_files(spec, c)
        return
    ctx = get_context("fork") if hasattr(os, "fork") else None
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_local, initargs=(spec,)) as pool:
        queue = iter(chunks)
        pending = {pool.submit(_local_chunk, (spec, c)) for c in (next(queue, None) for _ in range(2 * workers)) if c}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
                    c = next(queue, None)
                    if c:
                        pending.add(pool.submit(_local_chunk, (spec, c)))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _ray_rows(todo: list[str], spec: JobSpec, workers: int, chunk: int, address: str | None, progress: bool):
    try:
        import ray
    except ImportError as e:
        raise ImportError("engine='ray' needs Ray: pip install 'audiocnn[ray]' (or use engine='local')") from e
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING, ignore_reinit_error=True)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = progress
        logging.getLogger("ray.data").setLevel(logging.INFO if progress else logging.WARNING)
        ds = ray.data.from_items([{"path": p} for p in todo], override_num_blocks=max(1, min(len(todo) // chunk, 10_000)))
        ds = ds.map_batches(_RayModel, fn_constructor_kwargs={"spec": spec}, batch_size=chunk,
                            compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=spec.threads)
        for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            yield batch.to_pylist()
    finally:
        if started:
            ray.shutdown()


def run_files(paths, out: str | os.PathLike, spec: JobSpec, *, engine: str = "local", workers: int = 2, chunk_size: int = 32,
              rows_per_part: int = 1024, ray_address: str | None = None, progress: bool = False) -> RunSummary:
    """Tag or embed ``paths`` (files and folders, walked) into the Parquet folder ``out``,
    skipping paths it already holds (see the module docstring).

    Args:
        engine: ``"local"`` (``workers`` processes; 0 = this process) or ``"ray"``
            (``workers`` actors on the cluster at ``ray_address``, or on a local Ray).
        chunk_size: files per task.
        rows_per_part: rows per Parquet part (what a killed run can lose and redo).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: the Parquet output is a folder of parts, and a file of that name exists")
    files = [str(p) for p in expand_paths(list(paths) if not isinstance(paths, (str, os.PathLike)) else [paths])]
    done = _done_rows(out) if out.is_dir() else {}
    todo = [p for p in dict.fromkeys(files) if p not in done]
    earlier = set(files) & set(done)
    skipped, failed_before = len(earlier), sum(done[p] for p in earlier)
    t0 = time.perf_counter()
    written = failed = 0
    failures: list[dict] = []
    if todo:
        meta = describe(spec) if engine == "local" and workers <= 0 else None
        rows_iter = _local_rows(todo, spec, workers, chunk_size) if engine == "local" else _ray_rows(todo, spec, max(1, workers), chunk_size, ray_address, progress)
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), unit="file", desc=f"{spec.task} ({engine}, {workers} workers)", disable=None if progress and engine != "ray" else True)  # None: terminals only
        buf: list[dict] = []
        try:
            for rows in rows_iter:
                buf += rows
                failures += [{"path": r["path"], "error": r["error"]} for r in rows if r["error"] is not None]
                failed = len(failures)
                bar.update(len(rows))
                if len(buf) >= rows_per_part:
                    meta = meta or _driver_meta(spec)
                    _write_part(out, buf, spec.task, meta)
                    written, buf = written + len(buf), []
        finally:
            if buf:  # interrupted or finished: keep what is done
                _write_part(out, buf, spec.task, meta or _driver_meta(spec))
                written += len(buf)
            bar.close()
    return RunSummary(str(out), written, skipped, failed, time.perf_counter() - t0, workers, engine, failed_before, failures)


def _driver_meta(spec: JobSpec) -> dict:
    """The output's metadata, from a model built in the driver once (labels, rate)."""
    if "meta" not in _RUNNER or _RUNNER.get("meta_key") != spec:
        _RUNNER.update(meta=describe(spec), meta_key=spec)
    return _RUNNER["meta"]
