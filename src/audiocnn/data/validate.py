"""Checks that keep a manifest honest: every bad file listed with its reason, and enough classes.

:func:`validate_manifest` either stops with the full list of problems (:class:`BadDataError`) or,
with ``skip_bad=True``, drops them and records every one in ``manifest.bad``. :func:`require_classes`
is the check a trainer calls before fitting a classifier.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from audiocnn.data.items import BadDataError, BadItem, Item, natural_key
from audiocnn.data.labels import label_problem
from audiocnn.data.manifest import Manifest

if TYPE_CHECKING:
    from audiocnn.data.cache import AudioCache

__all__ = ["apply_bad", "audio_header_problem", "require_classes", "validate_manifest"]

log = logging.getLogger(__name__)


def apply_bad(manifest: Manifest, bad: Sequence[BadItem], *, skip_bad: bool = False) -> Manifest:
    """Handle a list of bad files found later (e.g. by :meth:`AudioCache.preload`).

    Raises :class:`BadDataError` listing all of them, or (``skip_bad``) returns the manifest
    without those files and with ``bad`` extended.
    """
    bad = list(bad)
    if not bad:
        return manifest
    if not skip_bad:
        raise BadDataError(bad, manifest.name)
    drop = {os.path.normpath(b.path) for b in bad}
    kept = tuple(it for it in manifest.items if os.path.normpath(str(it.path)) not in drop)
    return replace(manifest, items=kept, bad=manifest.bad + tuple(bad))


def audio_header_problem(path: Path) -> str | None:
    """Cheap check of one file: exists, opens as audio, has samples. None when fine."""
    import soundfile as sf

    try:
        st = path.stat()
    except FileNotFoundError:
        return "file not found"
    except OSError as e:
        return f"cannot stat ({e.strerror or e})"
    if path.is_dir():
        return "is a directory, not an audio file"
    if st.st_size == 0:
        return "empty file (0 bytes)"
    try:
        info = sf.info(str(path))
    except Exception as e:  # libsndfile's error for corrupt / unsupported files
        msg = getattr(e, "error_string", None) or str(e)
        msg = str(msg).strip().replace(str(path), "").strip(" :'\"")
        return f"not a readable audio file ({msg})" if msg else "not a readable audio file"
    if info.frames == 0:
        return "0 samples (zero-length audio)"
    if info.samplerate <= 0:
        return f"invalid sample rate {info.samplerate}"
    return None


def _where(items: Sequence[Item]) -> str:
    """``" (meta.csv row 9, meta.csv row 10)"``, or ``""`` when the rows are unknown."""
    origins = [it.origin for it in items if it.origin]
    return f" ({', '.join(origins)})" if origins else ""


def _duplicates(manifest: Manifest, bad: list[BadItem], drop: set[int]) -> None:
    """A file listed twice: in two folds, two splits, with two label sets, or the same row repeated."""
    by_path: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(manifest.items):
        by_path[os.path.normcase(os.path.normpath(str(it.path)))].append(i)
    for idxs in by_path.values():
        if len(idxs) < 2:
            continue
        its = [manifest.items[i] for i in idxs]
        p = str(its[0].path)
        folds = sorted({str(it.fold) for it in its if it.fold is not None}, key=natural_key)
        splits = sorted({it.split for it in its if it.split is not None})
        labelsets = sorted({";".join(it.labels) for it in its})
        if len(folds) > 1:
            bad.append(BadItem(p, f"listed in folds {' and '.join(folds)}{_where(its)}"))
            drop.update(idxs)
        elif len(splits) > 1:
            bad.append(BadItem(p, f"listed in splits {' and '.join(splits)}{_where(its)}"))
            drop.update(idxs)
        elif len(labelsets) > 1:
            bad.append(BadItem(p, f"listed with different labels ({' / '.join(labelsets)}){_where(its)}"))
            drop.update(idxs)
        else:
            # Same row repeated: keep the first copy, report the repeats.
            rows = _where(its)[2:-1]
            bad.append(BadItem(p, f"duplicate filename (listed {len(idxs)} times{': ' + rows if rows else ''}; "
                                  "first copy kept)"))
            drop.update(idxs[1:])


def _warn_few_classes(manifest: Manifest) -> None:
    present = [c for c, n in manifest.label_counts().items() if n > 0]
    if manifest.items and len(present) < 2:
        what = f"only the class {present[0]!r}" if present else "no labelled item"
        log.warning("%s: %d item(s) with %s; a classifier needs at least 2 classes with examples "
                    "(check the label column or add data of other classes)", manifest.name, len(manifest.items), what)


def require_classes(manifest: Manifest, minimum: int = 2) -> Manifest:
    """Stop unless at least ``minimum`` classes have items (multi-label: positives); returns ``manifest``.

    Call it before training a classifier: with one class there is nothing to learn.

    Raises:
        ValueError: ``"<name>: a classifier needs at least 2 classes with examples; found 1: 'dog' (40 items)"``.
    """
    counts = {c: n for c, n in manifest.label_counts().items() if n > 0}
    if len(counts) >= minimum:
        return manifest
    found = ", ".join(f"{c!r} ({n} item{'s' if n != 1 else ''})" for c, n in counts.items()) or "none"
    raise ValueError(f"{manifest.name}: a classifier needs at least {minimum} classes with examples; "
                     f"found {len(counts)}: {found} (in {manifest.root})")


def validate_manifest(
    manifest: Manifest,
    *,
    skip_bad: bool = False,
    check_audio: bool = True,
    cache: AudioCache | None = None,
    num_workers: int = 0,
    progress: bool = True,
) -> Manifest:
    """Check every item; stop with the full list of problems or skip them (``skip_bad``).

    Checks: rows the loader flagged (``manifest.problems``: unknown/empty label...), a file listed
    twice (``"duplicate filename"``; with different folds ``"listed in folds 1 and 3"``; with
    different labels or splits likewise; each with the rows that list it), items without a label
    in single-label data, labels outside ``manifest.classes``, and with ``check_audio`` that each
    file exists, opens as audio (soundfile header, cheap) and is not empty. With ``cache`` (an
    :class:`~audiocnn.data.cache.AudioCache`) every file is also fully decoded and resampled into
    the cache, which catches NaN/inf samples and corrupt data past the header and means training
    will not decode again. Logs a warning when fewer than 2 classes have items (see
    :func:`require_classes` for the check that stops).

    Returns:
        The manifest (unchanged when all is well; with ``skip_bad``, without the bad files and
        with them appended to ``bad``; ``problems`` is then empty).

    Raises:
        BadDataError: listing every bad file with its reason (not only the first).
    """
    bad: list[BadItem] = list(manifest.problems)
    drop: set[int] = set()
    _duplicates(manifest, bad, drop)

    if not manifest.multilabel:
        for i, it in enumerate(manifest.items):
            if len(it.labels) != 1 and i not in drop:
                bad.append(BadItem(str(it.path), f"expected exactly one label, got {len(it.labels)}{_where([it])}"))
                drop.add(i)
    known = set(manifest.classes)
    for i, it in enumerate(manifest.items):
        problem = label_problem(it.labels, known)
        if problem is not None and i not in drop:
            bad.append(BadItem(str(it.path), f"{problem}{_where([it])}"))
            drop.add(i)

    if check_audio:
        from tqdm.auto import tqdm

        todo = [i for i in range(len(manifest.items)) if i not in drop]
        checked = set()
        for i in tqdm(todo, desc=f"checking {manifest.name}", unit="file",
                      disable=None if progress and len(todo) >= 200 else True, leave=False):  # None: terminals only
            p = manifest.items[i].path
            key = str(p)
            if key in checked:
                continue
            checked.add(key)
            reason = audio_header_problem(p)
            if reason is not None:
                bad.append(BadItem(key, reason))
                drop.add(i)
        if cache is not None:
            paths = [manifest.items[i].path for i in range(len(manifest.items)) if i not in drop]
            decode_bad = cache.preload(paths, num_workers=num_workers, progress=progress)
            bad_paths = {os.path.normpath(b.path) for b in decode_bad}
            bad.extend(decode_bad)
            for i, it in enumerate(manifest.items):
                if os.path.normpath(str(it.path)) in bad_paths:
                    drop.add(i)

    if not bad:
        _warn_few_classes(manifest)
        return manifest
    if not skip_bad:
        raise BadDataError(bad, manifest.name)
    kept = tuple(it for i, it in enumerate(manifest.items) if i not in drop)
    out = replace(manifest, items=kept, bad=manifest.bad + tuple(bad), problems=())
    _warn_few_classes(out)
    return out
