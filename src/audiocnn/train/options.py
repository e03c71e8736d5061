"""How a field of a configuration dataclass appears on the command line and in recipe files.

Each field of :class:`~audiocnn.train.TrainConfig` is declared with :func:`option`, which keeps
its default, its help text, its range or choices and its flag name together::

    epochs: int = option(30, "maximum epochs per fold", low=1)

The command line (``audiocnn train``) builds its flags from these declarations, and recipe files
(``--config recipe.toml``) are checked by them: one declaration, so a changed default changes the
flag's default and its ``--help`` as well. :func:`check_value` converts and checks one value
read from a file (the command line converts text with :meth:`Option.parse_text`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass, field

__all__ = ["Option", "check_value", "config_options", "interval_rule", "option", "outside_interval"]


def interval_rule(low: float | None, high: float | None, low_open: bool = False, high_open: bool = False) -> str:
    """The interval as text: ``>= 1``, ``> 0``, ``in [0, 1)``; ``a finite number`` without bounds."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return "a finite number"


def outside_interval(value: float, low: float | None, high: float | None, low_open: bool = False, high_open: bool = False) -> bool:
    """Whether the number ``value`` is infinite, NaN or outside the interval (open or closed ends)."""
    bad = isinstance(value, float) and not math.isfinite(value)
    bad |= low is not None and (value <= low if low_open else value < low)
    bad |= high is not None and (value >= high if high_open else value > high)
    return bool(bad)


@dataclass(frozen=True)
class Option:
    """The command-line and file form of one configuration field.

    Attributes:
        help: the ``--help`` text (the default is appended by the command line).
        flag: the option string; default ``--`` + the field name with ``-`` for ``_``. A boolean
            field gets ``--name`` and ``--no-name``; a flag starting with ``--no-`` alone sets
            the field to False.
        metavar: argparse's metavar.
        choices: the allowed values.
        values: text -> value, for fields whose flag takes words (``--eval-windows auto|yes|no``).
        low, high, low_open, high_open: the allowed interval of a number (open or closed ends).
        runtime: the field changes how a run executes, not what it computes.
    """

    help: str
    flag: str | None = None
    metavar: str | None = None
    choices: tuple | None = None
    values: dict | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    runtime: bool = False

    def flag_for(self, name: str) -> str:
        return self.flag or "--" + name.replace("_", "-")

    def rule(self) -> str:
        """The interval as text: ``>= 1``, ``in [0, 1)``."""
        return interval_rule(self.low, self.high, self.low_open, self.high_open)

    def check_range(self, value) -> None:
        """ValueError ``"must be >= 1, got 0"`` when a number is outside the interval."""
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return
        if outside_interval(value, self.low, self.high, self.low_open, self.high_open):
            raise ValueError(f"must be {self.rule()}, got {value:g}" if isinstance(value, float) else f"must be {self.rule()}, got {value}")

    def parse_text(self, text: str, hint: object) -> object:
        """A command-line word as the field's value (ValueError with the reason)."""
        if self.values is not None:
            if text not in self.values:
                raise ValueError(f"expected one of {', '.join(self.values)}, got {text!r}")
            return self.values[text]
        value = _from_text(text, hint)
        self.check_range(value)
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"expected one of {', '.join(map(str, self.choices))}, got {text!r}")
        return value


def option(default=dataclasses.MISSING, help: str = "", *, factory=dataclasses.MISSING, **kwargs) -> typing.Any:
    """A dataclass field with its :class:`Option` (``default`` or ``factory``)."""
    meta = {"option": Option(help, **kwargs)}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@functools.cache
def config_options(cls) -> tuple[tuple[dataclasses.Field, Option, object], ...]:
    """``(field, option, type)`` of every field of ``cls`` declared with :func:`option`, in order."""
    hints = typing.get_type_hints(cls)
    return tuple((f, f.metadata["option"], hints[f.name]) for f in dataclasses.fields(cls) if "option" in f.metadata)


def _members(hint: object) -> tuple:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _from_text(text: str, hint: object) -> object:
    members = [m for m in _members(hint) if m is not type(None)]
    for tp in members:  # int before str: "--devices 2" is the integer 2
        if tp is int:
            try:
                return int(text)
            except ValueError:
                if len(members) == 1:
                    raise ValueError(f"expected an integer, got {text!r}") from None
        elif tp is float:
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"expected a number, got {text!r}") from None
        elif tp is str:
            return text
    raise ValueError(f"cannot read {text!r} as {hint}")


def _matches(value: object, tp: object) -> bool:
    if tp is type(None):
        return value is None
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    origin = typing.get_origin(tp) or tp
    return isinstance(value, origin) if isinstance(origin, type) else True


def check_value(name: str, opt: Option, hint: object, value: object) -> object:
    """``value`` (read from a recipe file) as field ``name``'s value: the words of
    ``opt.values`` are accepted as well as the values themselves; integers stand for floats.
    ValueError naming the field and the reason otherwise."""
    if opt.values is not None and isinstance(value, str) and value in opt.values:
        return opt.values[value]
    members = _members(hint)
    if not any(_matches(value, tp) for tp in members):
        kinds = " or ".join("null" if tp is type(None) else getattr(tp, "__name__", str(tp)) for tp in members)
        raise ValueError(f"{name}: expected {kinds}, got {value!r}")
    if float in members and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    try:
        opt.check_range(value)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None
    if opt.choices is not None and value is not None and value not in opt.choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(str, opt.choices))}, got {value!r}")
    return value
