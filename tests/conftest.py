"""Fixtures shared by the test modules (pytest loads this file before them; with
``--import-mode=importlib`` the modules cannot import it, so what they share are fixtures).

tests/site/ checks the *built* site (a real browser, the downloadable notebooks), so it is
collected only when asked for: name it on the command line (``pytest tests/site``) or set
``IMPLICIT_BIAS_SITE_TESTS=1``; ``pytest src tests`` (run before the book is built) skips it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

_SITE_TESTS = Path(__file__).parent / "site"


def pytest_ignore_collect(collection_path, config):
    """Skip tests/site unless it (or a file in it) is named on the command line."""
    if collection_path != _SITE_TESTS or os.environ.get("IMPLICIT_BIAS_SITE_TESTS") == "1":
        return None
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == _SITE_TESTS or _SITE_TESTS in path.parents:
            return None  # asked for explicitly
    return True


def random_quadratic(seed: int = 0, dim: int = 5):
    """A random strongly convex quadratic: ``(hessian, center, grad_fn)`` with
    grad_fn(x) = hessian (x - center), hessian = M M^T / d + 0.1 I."""
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(dim, dim))
    hessian, center = m @ m.T / dim + 0.1 * np.eye(dim), 2.0 * rng.normal(size=dim)
    return hessian, center, (lambda x: hessian @ (x - center))


@pytest.fixture
def quadratic():
    """The factory :func:`random_quadratic`, as a fixture."""
    return random_quadratic
