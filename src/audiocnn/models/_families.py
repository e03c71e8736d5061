"""Imports every model family module in this package so that its builders register themselves.

A family is any module of ``audiocnn.models`` whose name does not start with ``_`` and that is
not one of the shared helper modules; adding a file is enough to add a family.
"""

import importlib
import pkgutil

import audiocnn.models as _pkg

_NOT_FAMILIES = {"base", "layers", "analysis"}

for _m in sorted(pkgutil.iter_modules(_pkg.__path__), key=lambda m: m.name):
    if not _m.name.startswith("_") and _m.name not in _NOT_FAMILIES and not _m.name.endswith("_layers"):
        importlib.import_module(f"audiocnn.models.{_m.name}")
