"""Model registry: each variant is a tiny builder function registered by name (as in timm)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

__all__ = ["FAMILY_MODULES", "get_model_builder", "is_model", "list_models", "model_family", "register_model"]

_MODELS: dict[str, Callable] = {}
_FAMILY: dict[str, str] = {}


def register_model(fn: Callable) -> Callable:
    """Register ``fn`` (a builder returning an :class:`~audiocnn.models.base.AudioModel`) under its name."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is registered twice ({_MODELS[name].__module__} and {fn.__module__})")
    _MODELS[name] = fn
    _FAMILY[name] = fn.__module__.rsplit(".", 1)[-1]
    return fn


# The modules of audiocnn.models that define model families; importing one registers its
# builders. Adding a family = adding its module here.
FAMILY_MODULES = (
    "compact",
    "imagenet",
    "panns",
    "panns_1d",
    "panns_mobilenet",
    "panns_resnet",
    "panns_wavegram",
    "pons",
)


def _ensure_loaded() -> None:
    # done lazily so that `import audiocnn` stays cheap
    import importlib

    for name in FAMILY_MODULES:
        importlib.import_module(f"audiocnn.models.{name}")


def list_models(pattern: str | None = None, include_test: bool = False) -> list[str]:
    """Registered model names, sorted; ``pattern`` is a shell wildcard (``"cnn14*"``).

    Test-size models (``test_*``) are hidden unless ``include_test`` or the pattern names them.
    """
    _ensure_loaded()
    names = sorted(_MODELS)
    if pattern:
        return [n for n in names if fnmatch.fnmatch(n, pattern)]
    return [n for n in names if include_test or not n.startswith("test_")]


def is_model(name: str) -> bool:
    _ensure_loaded()
    return name in _MODELS


def model_family(name: str) -> str:
    """The family (module) a registered model belongs to: ``"panns"``, ``"pons"``, ..."""
    _ensure_loaded()
    return _FAMILY[name]


def get_model_builder(name: str) -> Callable:
    _ensure_loaded()
    try:
        return _MODELS[name]
    except KeyError:
        close = [n for n in _MODELS if name.lower() in n or n in name.lower()][:8]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model {name!r}{hint} (see `audiocnn models` for the list)") from None
