"""Command-line flags generated from a configuration dataclass (:mod:`audiocnn.train.options`).

:func:`add_config_flags` adds one flag per field declared with ``option(...)``: its name, help
(with the field's default), type, range and choices come from the declaration. The flags record
which of them the user gave, so :func:`given_values` returns exactly the explicit ones: a recipe
file or a preset supplies the rest.

- a number or text field: ``--epochs N`` (range-checked: ``--epochs 0`` is a usage error);
- a field with words (``values``): ``--eval-windows auto|yes|no``;
- a boolean field: ``--balanced`` / ``--no-balanced``; a flag declared as ``--no-x`` alone
  (``--no-progress``) sets the field to False;
- a ``dict`` field: a repeatable ``KEY=VALUE`` flag whose strings are returned as a list (the
  caller types them; for ``model_kwargs`` by the model's signature).
"""

from __future__ import annotations

import argparse
import dataclasses

from audiocnn.train.options import config_options

__all__ = ["add_config_flags", "config_flag_names", "given_values"]

_GIVEN = "_given_config_fields"


def _mark(namespace, name: str) -> None:
    given = getattr(namespace, _GIVEN, None)
    if given is None:
        given = set()
        setattr(namespace, _GIVEN, given)
    given.add(name)


class _Store(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        _mark(namespace, self.dest)


class _Append(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), values])
        _mark(namespace, self.dest)


class _Switch(argparse.Action):
    """``--x`` / ``--no-x``: True / False."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, not option_string.startswith("--no-"))
        _mark(namespace, self.dest)


def _text_type(name: str, opt, hint):
    def parse(text: str):
        try:
            return opt.parse_text(text, hint)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = name
    return parse


def _default_text(f: dataclasses.Field, opt) -> str:
    default = f.default if f.default is not dataclasses.MISSING else None
    if opt.values is not None:  # the word that stands for the default
        words = [w for w, v in opt.values.items() if v is default or (v == default and type(v) is type(default))]
        return f" (default {words[0]})" if words else ""
    if default is None or isinstance(default, bool):
        return ""
    return f" (default {default:g})" if isinstance(default, float) else f" (default {default})"


def add_config_flags(parser, cls, *, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """Add the flags of ``cls``'s declared fields (but ``exclude``) to ``parser`` (a parser or an
    argument group); returns ``{field name: flag}``."""
    flags = {}
    for f, opt, hint in config_options(cls):
        if f.name in exclude:
            continue
        flag = opt.flag_for(f.name)
        flags[f.name] = flag
        help_text = opt.help + _default_text(f, opt)
        if hint is bool and opt.values is None:
            if flag.startswith("--no-"):  # e.g. --no-progress: dest no_progress, True when given
                parser.add_argument(flag, action="store_true", help=help_text)
            else:
                parser.add_argument(flag, "--no-" + flag[2:], dest=f.name, action=_Switch, default=f.default, help=help_text)
        elif f.default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            parser.add_argument(flag, dest=f.name, action=_Append, default=[], metavar=opt.metavar, help=help_text)
        else:
            choices = tuple(opt.values) if opt.values is not None else opt.choices
            parser.add_argument(
                flag, dest=f.name, action=_Store, default=f.default, type=_text_type(f.name, opt, hint),
                metavar=opt.metavar or ("{" + ",".join(map(str, choices)) + "}" if choices else None), help=help_text,
            )
    return flags


def config_flag_names(cls) -> dict[str, str]:
    """``{field name: flag}`` for every declared field of ``cls``."""
    return {f.name: opt.flag_for(f.name) for f, opt, _ in config_options(cls)}


def given_values(args: argparse.Namespace, cls, *, exclude: tuple[str, ...] = ()) -> dict:
    """The field values given explicitly on the command line (for a ``--no-x`` flag: when it is
    set, as ``-q`` or a non-terminal also set ``--no-progress``)."""
    given = getattr(args, _GIVEN, set())
    out = {}
    for f, opt, _ in config_options(cls):
        if f.name in exclude:
            continue
        flag = opt.flag_for(f.name)
        if flag.startswith("--no-") and opt.values is None:
            if getattr(args, flag[2:].replace("-", "_"), False):
                out[f.name] = False
        elif f.name in given:
            out[f.name] = getattr(args, f.name)
    return out
