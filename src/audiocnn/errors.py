"""The error model: one record for a file that failed, and the exit codes of the ``audiocnn`` command.

A command that processes many files never lets one bad file stop the others. Each file that
fails becomes a record next to the successes, in the same output (JSON, CSV, table, ``.npz``,
``metrics.json``)::

    {"path": "clips/b.wav", "error": {"type": "not_audio", "message": "not a readable audio file (...)"}}

``type`` is a short, stable code a program can branch on (the table in docs/reliability.md);
``message`` says what is wrong in words. The same ``{"type", "message"}`` pair is the error body
of ``audiocnn serve``.

Exit codes (``audiocnn <command>; echo $?``):

======  ===============================================================================
code    meaning
======  ===============================================================================
0       everything was processed (or some files failed and ``--allow-failures`` was given)
1       the command could not run: a bad model, checkpoint or data set, an output that
        cannot be written, no input file found, a run folder in use
2       usage: an argument that is missing, unknown or outside its range
3       some input files failed; their records are in the output beside the others
130     interrupted (Ctrl-C, SIGINT); a line says what was kept and how to continue
======  ===============================================================================
"""

from __future__ import annotations

import os
import re

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "AudiocnnError",
    "FileError",
    "MissingExtraError",
    "UsageError",
    "error_type",
    "exit_status",
    "failure_lines",
    "failure_record",
    "reason_type",
    "require_extra",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_INTERRUPTED = 130


class AudiocnnError(Exception):
    """Base of audiocnn's own errors about inputs and runs (a file that is not audio, a run folder
    in use...): the command prints the message in one line and exits with code 1."""


class UsageError(ValueError):
    """An argument that means nothing (``--top-k 0``, an output of the wrong kind...): exit code 2.
    The message names the argument and the rule."""


class MissingExtraError(AudiocnnError, ImportError):
    """A feature needs a package of an optional extra that is not installed: exit code 1, the
    message names the package and the ``pip install`` line."""


def require_extra(module: str, extra: str, feature: str) -> None:
    """Import ``module`` or raise :class:`MissingExtraError` saying that ``feature`` needs the
    ``extra`` (``pip install "audiocnn[extra]"``)."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(
            f'{feature} needs {module}, which is not installed ({e}): pip install "audiocnn[{extra}]"'
        ) from e


# Reason texts (of AudioLoadError and the data checks) -> type, by prefix or phrase; the first
# match wins. Every fault case of tests/reliability asserts its type, so a reworded message that
# no longer matches fails a test instead of silently becoming "bad_data".
_REASON_TYPES = (
    ("file not found", "file_not_found"),
    ("is a directory", "not_a_file"),
    ("empty file", "empty_file"),
    ("not a readable audio file", "not_audio"),
    ("0 samples", "no_samples"),
    ("nan/inf", "non_finite"),
    ("sample rate", "bad_sample_rate"),
    ("decoding failed", "decode_failed"),
    ("past the end", "past_end"),
    ("cannot stat", "unreadable"),
    ("listed in folds", "duplicate"),
    ("listed in splits", "duplicate"),
    ("listed with different labels", "duplicate"),
    ("duplicate filename", "duplicate"),
    ("label", "bad_label"),
    ("excluded:", "excluded"),
    ("no fold", "bad_row"),
    ("empty ", "bad_row"),
    ("unknown split", "bad_row"),
)


def reason_type(reason: str) -> str:
    """The type code of a reason text (``"file not found"`` -> ``"file_not_found"``); ``"bad_data"``
    when no rule matches."""
    r = reason.lower()
    for phrase, code in _REASON_TYPES:
        if phrase in r:
            return code
    return "bad_data"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def error_type(exc: BaseException) -> str:
    """The type code of an exception: its ``code`` attribute when it has one
    (:class:`~audiocnn.audio.AudioLoadError`), else its class name in snake case
    (``OutputError`` -> ``"output_error"``)."""
    code = getattr(exc, "code", None)
    return str(code) if isinstance(code, str) and code else _snake(type(exc).__name__)


class FileError(str):
    """Why one input failed: the message (words, without the path) as a ``str``, with ``type`` (a
    stable code) attached. Being a string, it prints, compares and pickles as its message, so code
    that shows or searches the reason keeps working; :meth:`to_dict` gives the record form."""

    type: str

    def __new__(cls, type: str, message: str):  # noqa: A002 - the record's field name
        obj = super().__new__(cls, message)
        obj.type = type
        return obj

    def __reduce__(self):
        return (FileError, (self.type, str(self)))

    def __repr__(self) -> str:
        return f"FileError(type={self.type!r}, message={str(self)!r})"

    @property
    def message(self) -> str:
        return str(self)

    @classmethod
    def from_exception(cls, exc: BaseException) -> FileError:
        """``AudioLoadError`` keeps its code and reason; any other exception is named by its class."""
        reason = getattr(exc, "reason", None)
        return cls(error_type(exc), str(reason) if reason else (str(exc) or type(exc).__name__))

    @classmethod
    def from_reason(cls, reason: str) -> FileError:
        """A record for a reason text of the data checks (``BadItem.reason``)."""
        return reason if isinstance(reason, FileError) else cls(reason_type(reason), reason)

    def to_dict(self) -> dict:
        return {"type": self.type, "message": str(self)}


def failure_record(path: str | os.PathLike, error: FileError | BaseException | str) -> dict:
    """``{"path": ..., "error": {"type": ..., "message": ...}}`` for a file that failed."""
    if isinstance(error, BaseException):
        error = FileError.from_exception(error)
    elif isinstance(error, str):
        error = FileError.from_reason(error)
    return {"path": str(path), "error": error.to_dict()}


def exit_status(n_failed: int, n_total: int, allow_failures: bool = False) -> int:
    """The exit code of a command over ``n_total`` input files of which ``n_failed`` failed:
    :data:`EXIT_OK` when none failed (or ``allow_failures``), :data:`EXIT_PARTIAL` when some did,
    :data:`EXIT_ERROR` when there was no input file at all."""
    if n_total == 0:
        return EXIT_ERROR
    if n_failed and not allow_failures:
        return EXIT_PARTIAL
    return EXIT_OK


def failure_lines(failures, n_total: int, what: str) -> list[str]:
    """The stderr summary of the files that failed: ``"2 of 9 file(s) could not be tagged:"``, then
    ``"  path: message [type]"`` per file. ``failures``: ``(path, error)`` pairs, the error a
    :class:`FileError`, a reason text, or the ``{"type", "message"}`` of a record."""
    failures = list(failures)
    if not failures:
        return []
    lines = [f"{len(failures)} of {n_total} file(s) could not be {what}:"]
    for path, err in failures:
        e = FileError(err["type"], err["message"]) if isinstance(err, dict) else FileError.from_reason(err)
        lines.append(f"  {path}: {e.message} [{e.type}]")
    return lines
