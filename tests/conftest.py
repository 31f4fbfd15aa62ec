"""Fixtures shared by the test modules (pytest loads this file before them; with
``--import-mode=importlib`` the modules cannot import it, so what they share are fixtures)."""

from __future__ import annotations

import numpy as np
import pytest

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
