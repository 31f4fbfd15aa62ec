"""Every norm of the package implements the ``Norm`` protocol, and code asks for the protocol."""

import numpy as np
import pytest

from implicit_bias import norms
from implicit_bias.norms import Norm, get_norm

NAMES = ["l1", "l2", "linf", 1.5, 3, "spectral", "nuclear", "frobenius"]


@pytest.mark.parametrize("name", NAMES)
def test_every_norm_is_a_norm_and_its_dual_too(name):
    norm = get_norm(name)
    assert isinstance(norm, Norm) and isinstance(norm.dual_norm, Norm)
    assert get_norm(norm) is norm  # a Norm passes through unchanged


@pytest.mark.parametrize("name", NAMES)
def test_protocol_methods_agree_with_lemma_2_2(name):
    norm, rng = get_norm(name), np.random.default_rng(0)
    g = rng.standard_normal((4, 3))
    g = g if isinstance(norm, norms.MatrixNorm) else g.reshape(-1)
    delta = norm.steepest_direction(g)
    np.testing.assert_allclose(np.sum(g * delta), norm.dual(g), rtol=1e-12, atol=0)   # <g, Delta> = ||g||_*
    assert norm.value(delta) <= 1 + 1e-12                             # ||Delta|| <= 1
    np.testing.assert_allclose(norm.lmo(g, 2.0), -2.0 * delta, rtol=1e-12, atol=1e-15)


def test_a_user_norm_satisfying_the_protocol_is_accepted():
    class Scaled:  # 2 * ||x||_inf, dual (1/2) ||g||_1: a norm the package does not define
        name = "2linf"

        @property
        def dual_norm(self):
            return get_norm("l1")

        def value(self, x):
            return 2 * float(np.max(np.abs(x)))

        def dual(self, g):
            return float(np.sum(np.abs(g))) / 2

        def steepest_direction(self, g):
            return np.sign(g) / 2

        def lmo(self, g, radius):
            return -radius * self.steepest_direction(g)

    user = Scaled()
    assert isinstance(user, Norm) and get_norm(user) is user
    assert not isinstance(object(), Norm)
