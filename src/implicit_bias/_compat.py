"""Deprecated names: a module-level ``__getattr__`` that returns the new object with a warning."""

from __future__ import annotations

import warnings
from typing import Callable


def deprecated_names(module: str, renamed: dict[str, tuple[str, Callable[[], object]]]):
    """``__getattr__`` for ``module``: ``renamed[old] = (new name, getter of the new object)``.

    A lookup of an old name emits a :class:`DeprecationWarning` that names the replacement (the
    test suite turns these into errors, so the book and the tests use the new names only).
    """

    def __getattr__(name: str):
        if name in renamed:
            new, get = renamed[name]
            warnings.warn(f"{module}.{name} is deprecated; use {new}", DeprecationWarning,
                          stacklevel=2)
            return get()
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
