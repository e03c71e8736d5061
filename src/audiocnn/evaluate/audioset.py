"""AudioSet scored as the PANNs paper scores it (Kong et al. 2020, section 5): one split of the
released segments alone (the evaluation set by default), every clip through the model once,
and per class the average precision, the ROC AUC and d-prime; overall the mAP (mean AP over the
classes with a positive clip), the mean AUC and d-prime of that mean AUC
(:func:`audiocnn.metrics.tagging_metrics`).

Clips are scored with the windowing of the model's bundle: 10-s windows for the official PANNs
checkpoints, so a 10-s clip is one pass and a shorter one is zero-padded to 10 s, as the PANNs
code pads it. The outputs of a checkpoint without class names (an official PANNs file) are
taken in ``class_labels_indices.csv`` order; those of a model trained by ``audiocnn train`` are
matched by name.

A black list of clips (``blacklist=``, as the PANNs code skips a list of clips) is left out and
counted; clips that cannot be read stop the run, or with ``skip_bad`` are left out and listed
as ``{path, error: {type, message}}`` records.

Files written to ``out_dir``:

- ``metrics.json``: the overall scores, the counts, the records of the skipped files and
  ``per_class`` (one entry per class: index, mid, name, positives, ap, auc, d_prime; ``null``
  where a class has no positive clip in the split);
- ``per_class.csv``: the same table;
- ``summary.md``: the overall scores and the best and worst classes by AP.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from audiocnn.atomic import write_json_atomic, write_text_atomic
from audiocnn.data import AudioCache, BadDataError, check_labels, load_manifest, validate_manifest
from audiocnn.data.corpora.audioset_files import read_class_index
from audiocnn.data.corpora.audioset import audioset_files
from audiocnn.errors import failure_record
from audiocnn.evaluate.predict import predict_manifest
from audiocnn.metrics import average_precision, d_prime, roc_auc, tagging_metrics
from audiocnn.models import load_model
from audiocnn.models.bundle import generic_labels

__all__ = ["PER_CLASS_COLUMNS", "evaluate_audioset", "per_class_table", "summary_markdown"]

PER_CLASS_COLUMNS = ("index", "mid", "name", "positives", "ap", "auc", "d_prime")


def _number(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def per_class_table(targets: np.ndarray, scores: np.ndarray, mids: list[str], names: list[str]) -> list[dict[str, Any]]:
    """One row per class (:data:`PER_CLASS_COLUMNS`) from multi-hot ``targets`` and
    probabilities ``scores``, both ``(clips, classes)``; ``None`` where a class has no positive
    (AP, AUC, d') or no negative (AUC, d') clip."""
    rows = []
    for c, (mid, name) in enumerate(zip(mids, names)):
        ap = average_precision(targets[:, c], scores[:, c])
        auc = roc_auc(targets[:, c], scores[:, c])
        rows.append({"index": c, "mid": mid, "name": name, "positives": int(targets[:, c].sum()),
                     "ap": _number(ap), "auc": _number(auc), "d_prime": _number(d_prime(auc))})
    return rows


def summary_markdown(result: dict[str, Any], top: int = 10) -> str:
    """The Markdown summary of :func:`evaluate_audioset`'s result."""
    scored = [r for r in result["per_class"] if r["ap"] is not None]
    by_ap = sorted(scored, key=lambda r: -r["ap"])
    lines = [
        f"# AudioSet {result['split']}: {result['model']}",
        "",
        f"Checkpoint `{result['checkpoint']}`, data `{result['data']}`.",
        "",
        "| clips scored | black-listed | skipped (unreadable) | classes scored | mAP | AUC | d-prime |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {result['clips']} | {result['blacklisted']} | {len(result['bad_files'])} | {len(scored)} "
        f"| {result['mAP']:.4f} | {result['auc']:.4f} | {result['d_prime']:.3f} |",
        "",
        "mAP: mean over the classes with a positive clip of the average precision; AUC: mean ROC AUC "
        "over the classes with positive and negative clips; d-prime: sqrt(2) * Phi^-1(mean AUC).",
    ]
    for title, rows in ((f"Best {top} classes by AP", by_ap[:top]), (f"Worst {top} classes by AP", by_ap[::-1][:top])):
        lines += ["", f"## {title}", "", "| class | positives | AP | AUC | d-prime |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {r['name']} | {r['positives']} | {r['ap']:.4f} | {_fmt(r['auc'], 4)} | {_fmt(r['d_prime'], 3)} |" for r in rows]
    return "\n".join(lines) + "\n"


def _fmt(x: float | None, digits: int) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def _csv_text(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(PER_CLASS_COLUMNS), lineterminator="\n")
    w.writeheader()
    w.writerows([{k: ("" if r[k] is None else r[k]) for k in PER_CLASS_COLUMNS} for r in rows])
    return buf.getvalue()


def evaluate_audioset(
    checkpoint: str | os.PathLike,
    data: str | os.PathLike,
    *,
    split: str = "eval",
    blacklist: str | os.PathLike | None = None,
    model: str | None = None,
    skip_bad: bool = False,
    cache_dir: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    batch_size: int = 16,
    chunk_clips: int = 256,
    num_workers: int = 0,
) -> dict[str, Any]:
    """Score ``checkpoint`` on one AudioSet ``split`` (``"eval"``, ``"balanced_train"``,
    ``"unbalanced_train"``) of the copy at ``data`` (see the module docstring).

    Clips are decoded ``chunk_clips`` at a time (``num_workers`` decoding threads), so memory
    holds one chunk of audio and the ``(clips, classes)`` scores, not the whole split.

    Returns:
        ``{"mAP", "auc", "d_prime", "clips", "blacklisted", "bad_files", "per_class", ...}``.

    Raises:
        ValueError: ``data`` has no such split, or the model's outputs do not match the class index.
        BadDataError: clips that cannot be read (without ``skip_bad``), listed with their reasons.
    """
    net, bundle = load_model(checkpoint, model)
    _, _, index_csv = audioset_files(Path(data))
    manifest = load_manifest(data, "audioset", audioset_splits=[split], audioset_blacklist=blacklist)
    blacklisted = len(manifest.bad)  # the loader lists the black-listed clips as excluded
    if index_csv is None:  # pragma: no cover - load_manifest has already refused such a folder
        raise ValueError(f"{data}: no class_labels_indices.csv")
    mids, names = read_class_index(index_csv)
    if generic_labels(bundle.labels):
        if net.num_classes != len(names):
            raise ValueError(f"{checkpoint}: {net.num_classes} outputs but {index_csv.name} has {len(names)} classes; "
                             f"a checkpoint without class names is read in class-index order")
        columns = list(range(len(names)))
    else:
        check_labels([lab for it in manifest.items for lab in it.labels], list(bundle.labels), str(data),
                     known_name=f"the labels of {checkpoint}")
        known = {lab: i for i, lab in enumerate(bundle.labels)}
        keep = [i for i, n in enumerate(names) if n in known]
        mids, names = [mids[i] for i in keep], [names[i] for i in keep]
        columns = [known[n] for n in names]
    manifest = validate_manifest(manifest, skip_bad=skip_bad, progress=False)
    bad = list(manifest.bad[blacklisted:])
    cache = AudioCache(net.sample_rate, cache_dir)
    windowing = dataclasses.replace(bundle.windowing, pad_short=True)  # short clips padded to a window, as PANNs pads them
    scores, targets = [], []
    index = {n: j for j, n in enumerate(names)}
    for start in range(0, len(manifest.items), chunk_clips):
        part = manifest.subset(range(start, min(start + chunk_clips, len(manifest.items))))
        failed = cache.preload([it.path for it in part.items], num_workers=num_workers, progress=False)
        if failed and not skip_bad:
            raise BadDataError(failed)
        gone = {str(b.path) for b in failed}
        bad += failed
        part = part.subset([i for i, it in enumerate(part.items) if str(it.path) not in gone])
        probs = predict_manifest(net, part, cache, windowing, activation="sigmoid", batch_size=batch_size)
        scores.append(probs[:, columns])
        t = np.zeros((len(part.items), len(names)), np.float32)
        for i, it in enumerate(part.items):
            for lab in it.labels:
                if lab in index:
                    t[i, index[lab]] = 1.0
        targets.append(t)
        cache.clear()
    if not scores or sum(len(s) for s in scores) == 0:
        raise ValueError(f"{data}: no clip of split {split!r} could be scored")
    y, p = np.concatenate(targets), np.concatenate(scores)
    overall = tagging_metrics(y, p)
    result = {
        **overall,
        "split": split,
        "clips": int(len(y)),
        "blacklisted": blacklisted,
        "blacklist": None if blacklist is None else str(blacklist),
        "checkpoint": str(checkpoint),
        "model": bundle.model,
        "data": str(data),
        "windowing": bundle.windowing.to_dict(),
        "bad_files": [{**failure_record(b.path, b.reason), "reason": b.reason} for b in bad],
        "per_class": per_class_table(y, p, mids, names),
    }
    if out_dir is not None:
        out = Path(out_dir)
        write_json_atomic(out / "metrics.json", result)
        write_text_atomic(out / "per_class.csv", _csv_text(result["per_class"]))
        write_text_atomic(out / "summary.md", summary_markdown(result))
    return result
