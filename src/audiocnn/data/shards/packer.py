"""``pack``: a corpus -> shards at the model's sample rate, in parallel, resumable, verifiable.

The clips are shuffled once (``seed``) and cut into shards of ``shard_size``, so that every shard
mixes the classes (a streaming reader then only needs a small shuffle buffer). The plan and its
fingerprint go to ``out/.pack/plan.json``; each finished shard is written under a temporary
name, renamed, and recorded in ``out/.pack/done/<shard>.json`` with its SHA-256. An interrupted
``pack`` run again with the same arguments skips the recorded shards; other arguments or other
data into the same folder are refused. ``index.json`` is written last.

Unreadable files are handled as everywhere in audiocnn: without ``skip_bad`` the run ends with
:class:`~audiocnn.data.BadDataError` listing every one (the shards already written are kept, so
a rerun with ``skip_bad=True`` only finishes the rest); with it they are left out and listed in
``index.json`` under ``bad``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from audiocnn.atomic import atomic_path, write_json_atomic
from audiocnn.audio import AudioLoadError
from audiocnn.data import BadDataError, BadItem
from audiocnn.data.shards.hdf5 import HDF5ShardWriter
from audiocnn.data.shards.index import FORMATS, INDEX_NAME, PackedIndex, ShardInfo, load_index, sha256_file
from audiocnn.data.shards.sources import ManifestSource
from audiocnn.data.shards.tar import CODECS, TarShardWriter, encode_audio

__all__ = ["PackOptions", "pack"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackOptions:
    """How clips are stored. ``clip_seconds`` is required by HDF5 (fixed-length rows; default
    10 s) and ignored by tar shards, which keep every clip whole."""

    format: str = "tar"
    codec: str = "flac"
    sample_rate: int = 32000
    shard_size: int = 1000
    clip_seconds: float | None = None
    shuffle: bool = True
    seed: int = 0

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.format == "tar" and self.codec not in CODECS:
            raise ValueError(f"codec must be one of {', '.join(CODECS)}, got {self.codec!r}")
        if self.shard_size < 1 or self.sample_rate <= 0:
            raise ValueError(f"shard_size and sample_rate must be positive, got {self.shard_size} and {self.sample_rate}")

    @property
    def ext(self) -> str:
        return "tar" if self.format == "tar" else "h5"


# -- one shard ---------------------------------------------------------------------------------
_WORKER: dict = {}


def _init_worker(source, options: PackOptions, out_dir: str) -> None:
    _WORKER.update(source=source, options=options, out_dir=Path(out_dir))


def _pack_shard(job: tuple[int, np.ndarray]) -> dict:
    """Write shard ``job[0]`` from source items ``job[1]``; return its record (ShardInfo + bad)."""
    shard_id, items = job
    source, opt, out_dir = _WORKER["source"], _WORKER["options"], _WORKER["out_dir"]
    name = f"shard-{shard_id:06d}.{opt.ext}"
    counts = np.zeros(len(source.classes), dtype=np.int64)
    bad: list[dict] = []
    samples, seconds = 0, 0.0
    writer: TarShardWriter | HDF5ShardWriter
    with atomic_path(out_dir / name) as tmp:
        if opt.format == "tar":
            writer = TarShardWriter(tmp, opt.codec)
        else:
            clip = int(round((opt.clip_seconds or 10.0) * opt.sample_rate))
            writer = HDF5ShardWriter(tmp, len(items), clip, source.classes, opt.sample_rate)
        with writer:
            for i in items:
                i = int(i)
                meta = source.record(i)
                try:
                    x = source.load(i, opt.sample_rate)
                except AudioLoadError as e:
                    bad.append({"path": meta["path"], "reason": e.reason})
                    continue
                except Exception as e:  # noqa: BLE001 - one bad file is reported, it does not stop the pack
                    bad.append({"path": meta["path"], "reason": f"decoding failed ({type(e).__name__}: {e})"})
                    continue
                key = f"{i:09d}"
                meta = {"key": key, **meta, "num_samples": int(x.shape[0])}
                if isinstance(writer, TarShardWriter):
                    writer.write(key, encode_audio(x, opt.sample_rate, opt.codec), meta)
                else:
                    target = np.zeros(len(source.classes), dtype=bool)
                    target[meta["target"]] = True
                    writer.write(Path(meta["path"]).name, x, target, meta)
                counts[meta["target"]] += 1
                samples += 1
                seconds += x.shape[0] / opt.sample_rate
    path = out_dir / name
    digest = writer.sha256 if isinstance(writer, TarShardWriter) else sha256_file(path)
    info = ShardInfo(name, samples, path.stat().st_size, digest, round(seconds, 3), counts.tolist())
    record = {**asdict(info), "bad": bad}
    write_json_atomic(out_dir / ".pack" / "done" / f"{name}.json", record)
    return record


# -- the whole corpus --------------------------------------------------------------------------
def _plan(n: int, opt: PackOptions) -> list[np.ndarray]:
    order = np.random.default_rng(opt.seed).permutation(n) if opt.shuffle else np.arange(n)
    return [order[s : s + opt.shard_size] for s in range(0, n, opt.shard_size)]


def _fingerprint(source, opt: PackOptions) -> str:
    return hashlib.sha256(json.dumps([source.fingerprint(), asdict(opt)]).encode()).hexdigest()


def _done_record(out_dir: Path, name: str) -> dict | None:
    f = out_dir / ".pack" / "done" / f"{name}.json"
    if not f.is_file():
        return None
    try:
        rec = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    p = out_dir / name
    return rec if p.is_file() and p.stat().st_size == rec.get("bytes") else None


def pack(
    source,
    out_dir: str | os.PathLike,
    options: PackOptions | None = None,
    *,
    num_workers: int = 0,
    skip_bad: bool = False,
    progress: bool = True,
) -> PackedIndex:
    """Pack ``source`` (a :class:`~audiocnn.data.Manifest` or a source object, see
    :mod:`audiocnn.data.shards.sources`) into ``out_dir``; resume when ``out_dir`` holds an
    interrupted pack of the same source and options.

    Args:
        options: format, codec, sample rate (Hz; the model's), shard size, clip length (HDF5).
        num_workers: processes that write shards in parallel (0: this process).
        skip_bad: leave unreadable files out (listed in ``index.json``) instead of failing.
        progress: tqdm bar over shards.

    Returns:
        The :class:`PackedIndex` written to ``out_dir/index.json``.

    Raises:
        BadDataError: unreadable files and not ``skip_bad`` (finished shards are kept).
        ValueError: ``out_dir`` holds other data, or a pack of other data or options.
    """
    opt = options or PackOptions()
    if not hasattr(source, "load"):
        source = ManifestSource(source)
    if len(source) == 0:
        raise ValueError(f"{source.name}: nothing to pack (no items)")
    out_dir = Path(out_dir)
    fingerprint = _fingerprint(source, opt)
    plan_file = out_dir / ".pack" / "plan.json"
    if plan_file.is_file():
        prev = json.loads(plan_file.read_text())
        if prev.get("fingerprint") != fingerprint:
            raise ValueError(
                f"{out_dir} holds a pack of other data or options ({prev.get('source')}, {prev.get('options')}); "
                "choose another output folder or delete this one"
            )
        if (out_dir / INDEX_NAME).is_file():
            log.info("%s: already packed (%s)", out_dir, INDEX_NAME)
            return load_index(out_dir)
    elif out_dir.exists() and any(out_dir.iterdir()):
        raise ValueError(f"{out_dir} is not empty and holds no pack; choose an empty or new output folder")
    write_json_atomic(plan_file, {"fingerprint": fingerprint, "source": source.name, "options": asdict(opt), "items": len(source)})

    jobs = list(enumerate(_plan(len(source), opt)))
    records: dict[int, dict] = {}
    for sid, _ in jobs:
        rec = _done_record(out_dir, f"shard-{sid:06d}.{opt.ext}")
        if rec is not None:
            records[sid] = rec
    todo = [j for j in jobs if j[0] not in records]
    if records:
        log.info("%s: resuming, %d of %d shards already written", out_dir, len(records), len(jobs))
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), initial=len(records), desc=f"packing {source.name}", unit="shard", disable=None if progress else True)  # None: terminals only
    t0 = time.perf_counter()
    try:
        if num_workers <= 0:
            _init_worker(source, opt, str(out_dir))
            for job in todo:
                records[job[0]] = _pack_shard(job)
                bar.update(1)
        else:
            ctx = get_context("fork") if hasattr(os, "fork") else None
            with ProcessPoolExecutor(num_workers, mp_context=ctx, initializer=_init_worker, initargs=(source, opt, str(out_dir))) as pool:
                pending = {pool.submit(_pack_shard, j): j[0] for j in todo[: 2 * num_workers]}
                queue = iter(todo[2 * num_workers :])
                try:
                    while pending:
                        done, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in done:
                            records[pending.pop(fut)] = fut.result()
                            bar.update(1)
                            nxt = next(queue, None)
                            if nxt is not None:
                                pending[pool.submit(_pack_shard, nxt)] = nxt[0]
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    finally:
        bar.close()
    log.info("%s: %d shards in %.1f s", out_dir, len(todo), time.perf_counter() - t0)

    bad = [b for sid in sorted(records) for b in records[sid].get("bad", [])]
    if bad and not skip_bad:
        raise BadDataError([BadItem(b["path"], b["reason"]) for b in bad], source.name)
    shards = []
    for sid in sorted(records):
        rec = {k: v for k, v in records[sid].items() if k != "bad"}
        if rec["samples"] == 0:  # every file of it was bad
            (out_dir / rec["name"]).unlink(missing_ok=True)
            continue
        shards.append(ShardInfo(**rec))
    index = PackedIndex(
        root=out_dir,
        format=opt.format,
        sample_rate=opt.sample_rate,
        classes=tuple(source.classes),
        multilabel=source.multilabel,
        shards=shards,
        codec=opt.codec if opt.format == "tar" else "int16",
        clip_seconds=(opt.clip_seconds or 10.0) if opt.format == "hdf5" else None,
        source=source.name,
        fingerprint=fingerprint,
        bad=bad,
    )
    index.save()
    return index
