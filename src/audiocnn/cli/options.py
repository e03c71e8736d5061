"""Building blocks of the sub-command parsers, shared by the command modules.

- :func:`add_command`: a sub-command whose ``examples:`` epilog keeps its line breaks.
- :func:`flag` / :func:`add_flags` / :func:`flag_values`: options declared once as a table, each
  naming the keyword argument of the library call it feeds, so that a command adds the flags and
  passes their values on from the same declaration::

      SED_FLAGS = (flag("--min-duration", type=float_range(0), default=0.1, help="..."), ...)
      add_flags(parser, SED_FLAGS)                       # in register()
      SoundEventDetector(..., **flag_values(args, SED_FLAGS))   # in run()

- :func:`add_data_flags`: ``--data`` and ``--dataset``, the labelled data every training-like
  command reads.
- :func:`printed_warnings`: warnings raised while a model is built, printed to stderr.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Flag", "add_command", "add_data_flags", "add_flags", "flag", "flag_values", "printed_warnings"]


def add_command(subparsers, name: str, *, help: str, description: str | None = None,
                epilog: str | None = None) -> argparse.ArgumentParser:
    """The parser of sub-command ``name``; ``epilog`` (examples) is printed as written."""
    return subparsers.add_parser(name, help=help, description=description, epilog=epilog,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)


@dataclass(frozen=True)
class Flag:
    """One command-line option and the keyword argument it feeds.

    Attributes:
        names: the option strings (``"--min-duration"``).
        settings: the keywords of ``ArgumentParser.add_argument`` (type, default, help ...).
        param: the keyword of the library call (default: argparse's ``dest``).
        convert: applied to the parsed value before it is passed on (default: as parsed).
    """

    names: tuple[str, ...]
    settings: dict = field(default_factory=dict)
    param: str | None = None
    convert: Callable[[Any], Any] | None = None

    @property
    def dest(self) -> str:
        return self.settings.get("dest") or self.names[0].lstrip("-").replace("-", "_")


def flag(*names: str, param: str | None = None, convert: Callable[[Any], Any] | None = None, **settings: Any) -> Flag:
    """A :class:`Flag`: ``names`` and ``settings`` as ``add_argument`` takes them."""
    return Flag(tuple(names), settings, param, convert)


def add_flags(parser, flags: Iterable[Flag]) -> None:
    """Add ``flags`` to ``parser`` (a parser or an argument group), in order."""
    for f in flags:
        parser.add_argument(*f.names, **f.settings)


def flag_values(args: argparse.Namespace, flags: Iterable[Flag]) -> dict[str, Any]:
    """``{param: value}`` of ``flags`` in the parsed ``args``: the keywords of the library call."""
    out = {}
    for f in flags:
        value = getattr(args, f.dest)
        out[f.param or f.dest] = f.convert(value) if f.convert is not None else value
    return out


def add_data_flags(parser, *, required: bool = True, data_help: str = "CSV manifest, folder of class sub-folders, or a corpus folder",
                   dataset_help: str = "corpus layout (default: detected from --data)") -> None:
    """``--data`` (a manifest, a class-folder tree or a corpus) and ``--dataset`` (its layout)."""
    from audiocnn.data import DATASETS

    parser.add_argument("--data", required=required, help=data_help)
    parser.add_argument("--dataset", choices=DATASETS, default=None, help=dataset_help)


@contextmanager
def printed_warnings() -> Iterator[None]:
    """Print the warnings raised in the block (random weights, padding ...) to stderr, one line
    each, whatever the warning filters say: a command-line user must see them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
