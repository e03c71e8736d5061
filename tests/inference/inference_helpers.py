"""Helpers shared by the inference tests (imported by name: tests/ has no packages)."""

import warnings

SR = 32000


def quiet(fn, *a, **k):
    """Call ``fn`` with warnings silenced (random-weight notices in tests that build models)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # deprecations stay visible (errors from audiocnn code)
        return fn(*a, **k)
