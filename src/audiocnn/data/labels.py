"""Labels: the one set of rules for what a label is and whether it is known.

Any non-empty string the user wrote is a label, including ``"none"``, ``"NA"``, ``"null"`` and
``"nan"``; only an empty cell is a missing label. A label is known when it is in the class list
in force (a checkpoint's labels, a fixed ``classes=`` argument, AudioSet's class index...).

Loaders turn a row's problem into a reason string with :func:`label_problem` (the row is then
reported with the file and row, not raised); code that must stop calls :func:`check_labels`,
which raises :class:`LabelError` naming the data and every unknown label.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

__all__ = [
    "LABEL_SEPARATOR",
    "LabelError",
    "check_labels",
    "join_labels",
    "label_problem",
    "split_labels",
    "unknown_labels",
]

#: Separator of the labels of one item in a CSV ``labels`` cell (multi-label data).
LABEL_SEPARATOR = ";"

_SHOW_KNOWN = 12  # how many known labels an error message lists


class LabelError(ValueError):
    """Labels that are empty or not in the class list in force.

    Attributes:
        source: the data the labels came from (a file, ``"meta.csv row 7"``...).
        unknown: the unknown labels, in first-seen order.
    """

    def __init__(self, source: str, message: str, unknown: Iterable[str] = ()):
        self.source = source
        self.unknown = tuple(unknown)
        super().__init__(f"{source}: {message}")


def split_labels(cell: str, separator: str = LABEL_SEPARATOR) -> tuple[str, ...]:
    """``"speech; music"`` -> ``("speech", "music")``; an empty cell -> ``()``. Labels are stripped."""
    return tuple(lab.strip() for lab in cell.split(separator) if lab.strip())


def join_labels(labels: Iterable[str], separator: str = LABEL_SEPARATOR) -> str:
    """The inverse of :func:`split_labels`.

    Raises:
        ValueError: a label contains the separator or is empty (it would not read back the same).
    """
    labels = list(labels)
    for lab in labels:
        if not lab.strip() or separator in lab or lab != lab.strip():
            raise ValueError(
                f"label {lab!r} cannot be written in a {separator!r}-separated labels cell "
                "(it is empty, has surrounding spaces or contains the separator)"
            )
    return separator.join(labels)


def unknown_labels(labels: Iterable[str], known: Collection[str]) -> list[str]:
    """The labels not in ``known``, each once, in first-seen order."""
    out: list[str] = []
    for lab in labels:
        if lab not in known and lab not in out:
            out.append(lab)
    return out


def _quote(labels: Iterable[str]) -> str:
    return ", ".join(repr(lab) for lab in labels)


def label_problem(labels: Iterable[str], known: Collection[str] | None, *, known_name: str | None = None) -> str | None:
    """Why ``labels`` cannot be used, or None when they are fine.

    Args:
        labels: the labels of one item (or of a whole data set).
        known: the class list in force, or None to accept any non-empty label.
        known_name: how to name the class list in the reason (e.g. ``"class_labels_indices.csv"``).

    Returns:
        ``"empty label"``, ``"unknown label 'x'"``, ``"unknown labels 'x', 'y' (not in <known_name>)"``
        or None.
    """
    labels = list(labels)
    if any(not str(lab).strip() for lab in labels):
        return "empty label"
    if known is None:
        return None
    unknown = unknown_labels(labels, known)
    if not unknown:
        return None
    word = "label" if len(unknown) == 1 else "labels"
    where = f" (not in {known_name})" if known_name else ""
    return f"unknown {word} {_quote(unknown)}{where}"


def check_labels(labels: Iterable[str], known: Collection[str] | None, source: str, *,
                 known_name: str = "the class list") -> None:
    """Stop when ``labels`` holds an empty label or one that is not in ``known``.

    Args:
        labels: every label of the data (repeats are fine).
        known: the class list in force (e.g. the labels stored with a model), or None to accept
            any non-empty label.
        source: the data the labels came from, put first in the message (a path...).
        known_name: how to name ``known`` in the message (``"the labels of model.pth"``).

    Raises:
        LabelError: ``"<source>: unknown labels 'x', 'y' (not in <known_name>: a, b, c ...)"``.

    Example::

        check_labels([lab for it in manifest.items for lab in it.labels], model_labels,
                     str(data_path), known_name=f"the labels of {checkpoint}")
    """
    labels = list(labels)
    problem = label_problem(labels, known)
    if problem is None:
        return
    unknown = unknown_labels(labels, known) if known is not None else []
    if problem.startswith("unknown") and known is not None:
        shown = list(known)[:_SHOW_KNOWN]
        more = f" ... ({len(known)} in all)" if len(known) > _SHOW_KNOWN else ""
        problem = f"{problem} (not in {known_name}: {_quote(shown)}{more})"
    raise LabelError(source, problem, unknown)
