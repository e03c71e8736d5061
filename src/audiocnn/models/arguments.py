"""Typed model arguments: ``KEY=VALUE`` strings (``--model-arg``) converted by the builder's signature.

A registered builder is usually a tiny function such as ``def cnn14(**kwargs)`` that fixes some
hyper-parameters and hands the rest to a parametrised class (or a helper that does). The
arguments a builder accepts are therefore found by following its ``**kwargs``: through every
call that forwards them (``_cnn14("cnn14", "Cnn14", pooling="max", **kwargs)``, then
``PannsCnn(info, **kwargs)``, then ``super().__init__(..., **kwargs)``), collecting the named
parameters of each callee and dropping the ones filled on the way (positionally or by an
explicit keyword, as ``pooling`` above: a second value would be an error). Keys read from the
``**kwargs`` dict itself (``kwargs.setdefault("sample_rate", 16000)``) are accepted too.

Each value is then converted with the parameter's annotation, or with the type of its default
when it has none:

- ``bool``: ``true/false``, ``yes/no``, ``1/0`` (any case);
- ``int``, ``float``, ``str``;
- ``None`` for an optional parameter (``X | None``): ``none`` or ``null``;
- tuples and lists: comma-separated items, optionally in brackets (``64,128`` or ``(64, 128)``),
  each converted to the item type (``tuple[int, ...]``, ``tuple[int, int]``).

``num_classes`` is not a model argument here: :func:`~audiocnn.models.create_model` sets it.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass

from audiocnn.models._registry import get_model_builder

__all__ = ["ModelArgument", "model_arguments", "parse_model_args"]

_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}
_NONE = {"none", "null"}
# set by create_model, or the object itself
_NOT_MODEL_ARGS = {"self", "num_classes"}
_EMPTY = inspect.Parameter.empty


@dataclass(frozen=True)
class ModelArgument:
    """One argument a model builder accepts: its annotation (a type, or ``None`` if unknown)
    and its default (``inspect.Parameter.empty`` when required)."""

    name: str
    annotation: object = None
    default: object = _EMPTY


# --------------------------------------------------------------------------------------------
# which arguments a builder accepts


def _signature(fn: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(fn, eval_str=True)
    except (NameError, TypeError, SyntaxError):
        try:
            return inspect.signature(fn)
        except (TypeError, ValueError):
            return None
    except ValueError:
        return None


def _annotation(p: inspect.Parameter) -> object:
    return None if p.annotation is _EMPTY or isinstance(p.annotation, str) else p.annotation


def _function_ast(fn: Callable) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None
    name = fn.__code__.co_name  # the name it was defined with (a registered closure may be renamed)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    return None


def _owner_class(fn: Callable) -> type | None:
    """The class that defines the method ``fn`` (from its qualified name)."""
    parts = fn.__qualname__.split(".")
    if len(parts) < 2 or "<locals>" in parts:
        return None
    obj: object = inspect.getmodule(fn)
    for part in parts[:-1]:
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) else None


def _resolve_callee(node: ast.expr, fn: Callable) -> tuple[Callable | None, int]:
    """The object a call in ``fn``'s body names (a global, a closure variable, an attribute of
    one, or ``super().<method>``: the next definition in the defining class's MRO) and the number
    of positional parameters the call fills implicitly (1, ``self``, for ``super()``)."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Call):
        inner = node.value.func
        if isinstance(inner, ast.Name) and inner.id == "super":
            cls = _owner_class(fn)
            if cls is None:
                return None, 0
            mro = cls.__mro__
            for base in mro[mro.index(cls) + 1 :]:
                if node.attr in vars(base):
                    return vars(base)[node.attr], 1
            return None, 0
    if isinstance(node, ast.Name):
        try:
            closure = inspect.getclosurevars(fn)
        except TypeError:
            return None, 0
        for scope in (closure.nonlocals, closure.globals, closure.builtins):
            if node.id in scope:
                return scope[node.id], 0
        return fn.__globals__.get(node.id), 0
    if isinstance(node, ast.Attribute):
        owner, _ = _resolve_callee(node.value, fn)
        return (getattr(owner, node.attr, None) if owner is not None else None), 0
    return None, 0


def _collect(fn: Callable, skip: set[str], skip_positional: int, found: dict[str, ModelArgument], seen: set) -> None:
    """Add the arguments ``fn`` accepts to ``found`` (minus ``skip`` and the first
    ``skip_positional`` positional parameters), following its ``**kwargs``."""
    if isinstance(fn, type):
        fn = getattr(fn, "__init__")  # its constructor
        skip_positional += 1  # self
    key = (getattr(fn, "__code__", None) or fn, frozenset(skip), skip_positional)
    if key in seen:
        return
    seen.add(key)
    sig = _signature(fn)
    if sig is None:
        return
    var_kw = None
    positional = 0
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and positional < skip_positional:
            positional += 1
            continue
        if p.kind is p.VAR_KEYWORD:
            var_kw = p.name
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in skip:
            if p.name not in found:
                found[p.name] = ModelArgument(p.name, _annotation(p), p.default)
            elif found[p.name].annotation is None:
                # read from kwargs on the way (kwargs.setdefault): keep that default, take the type
                found[p.name] = ModelArgument(p.name, _annotation(p), found[p.name].default)
    if var_kw is None:
        return
    node = _function_ast(fn)
    if node is None:
        return
    for sub in ast.walk(node):
        # keys read from the dict itself: kwargs.setdefault("x", v) / .get("x", v) / .pop("x", v)
        if (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and isinstance(sub.func.value, ast.Name)
            and sub.func.value.id == var_kw
            and sub.func.attr in ("setdefault", "get", "pop")
            and sub.args
            and isinstance(sub.args[0], ast.Constant)
            and isinstance(sub.args[0].value, str)
        ):
            name = sub.args[0].value
            default = _EMPTY
            if len(sub.args) > 1:
                try:
                    default = ast.literal_eval(sub.args[1])
                except (ValueError, TypeError, SyntaxError):
                    pass  # not a literal: the type stays unknown
            if name not in skip and name not in found:
                found[name] = ModelArgument(name, None, default)
        if not isinstance(sub, ast.Call):
            continue
        forwards = any(k.arg is None and isinstance(k.value, ast.Name) and k.value.id == var_kw for k in sub.keywords)
        if not forwards:
            continue
        callee, implicit = _resolve_callee(sub.func, fn)
        if callee is None or not callable(callee):
            continue
        fixed = {k.arg for k in sub.keywords if k.arg is not None}
        _collect(callee, skip | fixed, implicit + len(sub.args), found, seen)


def model_arguments(name: str) -> dict[str, ModelArgument]:
    """The arguments the registered model ``name`` accepts, by name (``num_classes`` excluded)."""
    found: dict[str, ModelArgument] = {}
    _collect(get_model_builder(name), set(_NOT_MODEL_ARGS), 0, found, set())
    for n in _NOT_MODEL_ARGS:
        found.pop(n, None)
    return found


# --------------------------------------------------------------------------------------------
# converting one value


def _type_name(tp: object) -> str:
    if tp is None:
        return "any"
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _split_items(value: str) -> list[str]:
    v = value.strip()
    if len(v) >= 2 and v[0] + v[-1] in ("()", "[]"):
        v = v[1:-1]
    items = [s.strip() for s in v.split(",")]
    if items and items[-1] == "":
        items = items[:-1]  # "(64,)"
    if any(s == "" for s in items):
        raise ValueError("empty item")
    return items


def _guess(value: str) -> object:
    """A value without a known type: None, bool, int, float or the string itself."""
    low = value.strip().lower()
    if low in _NONE:
        return None
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(value)
        except ValueError:
            pass
    return value


def _convert(value: str, tp: object) -> object:
    """``value`` as type ``tp``; ValueError when it does not convert."""
    if tp is None or tp is typing.Any or tp is object:
        return _guess(value)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        if type(None) in args and value.strip().lower() in _NONE:
            return None
        for t in (a for a in args if a is not type(None)):
            try:
                return _convert(value, t)
            except ValueError:
                continue
        raise ValueError(value)
    if origin is typing.Literal:
        for lit in args:
            try:
                if _convert(value, type(lit)) == lit:
                    return lit
            except ValueError:
                continue
        raise ValueError(value)
    if tp is type(None):
        if value.strip().lower() in _NONE:
            return None
        raise ValueError(value)
    if tp is bool:
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(value)
    if tp is int:
        return int(value.strip())
    if tp is float:
        return float(value.strip())
    if tp is str:
        return value
    if origin in (tuple, list) or tp in (tuple, list):
        items = _split_items(value)
        container = origin or tp
        if not args:
            conv = [_guess(s) for s in items]
        elif container is tuple and len(args) == 2 and args[1] is Ellipsis:
            conv = [_convert(s, args[0]) for s in items]
        elif container is tuple:
            if len(items) != len(args):
                raise ValueError(f"{len(items)} items, expected {len(args)}")
            conv = [_convert(s, t) for s, t in zip(items, args)]
        else:
            conv = [_convert(s, args[0]) for s in items]
        return tuple(conv) if container is tuple else conv
    if isinstance(tp, type):
        return tp(value)
    return _guess(value)


def _expected_type(arg: ModelArgument) -> object:
    if arg.annotation is not None:
        return arg.annotation
    if arg.default is _EMPTY or arg.default is None:
        return None
    return type(arg.default)


# --------------------------------------------------------------------------------------------
# the entry point


def parse_model_args(name: str, pairs: list[str]) -> dict:
    """Convert ``KEY=VALUE`` strings to the typed keyword arguments of the registered model ``name``.

    Args:
        name: a registered model name (:func:`audiocnn.list_models`).
        pairs: strings such as ``"spec_augment=false"``, ``"fc_dropout=0.2"``,
            ``"channels=8,16"``; a later key replaces an earlier one.

    Returns:
        ``{key: value}`` ready for ``create_model(name, **kwargs)``.

    Raises:
        ValueError: a string without ``=``; a key the model does not accept (the message names
            the model and lists the accepted arguments); a value that does not convert (the
            message names the key, the value and the expected type).
    """
    accepted = model_arguments(name)
    out: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"model argument {pair!r}: expected KEY=VALUE")
        if key not in accepted:
            names = ", ".join(sorted(accepted)) or "(none)"
            raise ValueError(f"model {name!r} has no argument {key!r}; its arguments are: {names}")
        tp = _expected_type(accepted[key])
        try:
            out[key] = _convert(value, tp)
        except (ValueError, TypeError) as e:
            detail = f" ({e})" if str(e) and str(e) != value else ""
            raise ValueError(
                f"model argument {key}={value!r} of {name!r}: expected {_type_name(tp)}{detail}"
            ) from None
    return out
