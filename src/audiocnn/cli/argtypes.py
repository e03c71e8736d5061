"""argparse types that check a value's range once, at the command line.

A value outside its range is a usage error (exit code 2) whose message names the argument (argparse
adds ``argument --top-k:``) and the rule::

    p.add_argument("--top-k", type=int_range(1), default=5)
    p.add_argument("--threshold", type=float_range(0, 1), default=0.5)
    p.add_argument("--hop-seconds", type=float_range(0, None, low_open=True))
    p.add_argument("--out", type=output_file(".npz"))
    p.add_argument("--folds", type=folds(logo="logo"))
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audiocnn.train.options import interval_rule, outside_interval

__all__ = ["float_range", "folds", "int_range", "output_file", "output_folder"]


def int_range(low: int | None = None, high: int | None = None):
    """An integer in ``[low, high]`` (either bound may be None)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if outside_interval(v, low, high):
            raise argparse.ArgumentTypeError(f"must be {interval_rule(low, high)}, got {v}")
        return v

    parse.__name__ = "integer"
    return parse


def float_range(low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False):
    """A finite number in the interval from ``low`` to ``high`` (open ends with ``*_open``)."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if outside_interval(v, low, high, low_open, high_open):
            raise argparse.ArgumentTypeError(f"must be {interval_rule(low, high, low_open, high_open)}, got {text}")
        return v

    parse.__name__ = "number"
    return parse


def folds(**words: object):
    """``--folds``: an integer K >= 2, or one of ``words`` (a word -> the value it stands for)."""
    count = int_range(2)

    def parse(text: str) -> object:
        if text in words:
            return words[text]
        try:
            return count(text)
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentTypeError(f"takes an integer K >= 2 or {' or '.join(map(repr, words))}: {e}") from None

    parse.__name__ = "folds"
    return parse


def output_file(*suffixes: str):
    """A path to write a file to: not an existing folder, and ending in one of ``suffixes`` (when
    given) -- so that ``--out X`` writes ``X`` and nothing else."""

    def parse(text: str) -> str:
        p = Path(text)
        if not text or p.is_dir() or text.endswith(("/", "\\")):
            raise argparse.ArgumentTypeError(f"{text!r} is a folder; give a file name")
        if suffixes and p.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{text!r}: the file name must end in {' or '.join(suffixes)}")
        for parent in p.parents:
            if parent.exists() and not parent.is_dir():
                raise argparse.ArgumentTypeError(f"{text!r}: {parent} is a file, not a folder")
        return text

    parse.__name__ = "output file"
    return parse


def output_folder(text: str) -> str:
    """A folder to write into: absent (it is created) or a folder, not a file."""
    p = Path(text)
    if p.exists() and not p.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file; give a folder")
    for parent in p.parents:
        if parent.exists() and not parent.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r}: {parent} is a file, not a folder")
    return text
