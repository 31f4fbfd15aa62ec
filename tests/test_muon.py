"""Tests of implicit_bias.muon: the Newton--Schulz bound and torch Muon's spectral radius.

Book: ch-many-optimizers (prop-muon-radius).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.optim._muon import _zeropower_via_newtonschulz

from implicit_bias.muon import NS_COEFFICIENTS, NS_STEPS, muon_lr_scale, muon_radius, ns_polynomial, ns_sup

#: torch runs Newton--Schulz in bfloat16 (8 mantissa bits): measured excess over the exact sup is
#: below 0.1% on random matrices; 2% leaves room for other shapes and seeds.
TOL_BF16 = 0.02


def test_ns_sup_value_and_location():
    c = ns_sup()
    xs = np.linspace(0, 1, 2_000_001)
    assert c == pytest.approx(1.2024, abs=1e-4)
    assert np.abs(ns_polynomial(xs)).max() <= c + 1e-12
    assert ns_polynomial(1.0) == pytest.approx(0.6964, abs=1e-4)


def test_ns_sup_of_a_converging_polynomial_is_one():
    # the cubic Newton--Schulz map 1.5x - 0.5x^3 (c = 0) has sup 1 on [0, 1] (attained at 1)
    assert ns_sup((1.5, -0.5, 0.0), 5) == pytest.approx(1.0, abs=1e-12)


#: ns_sup(**kwargs) as computed by the earlier hand-written golden-section refinement (200
#: golden-section steps on the same grid bracket; implicit_bias/muon.py before
#: scipy.optimize.minimize_scalar replaced it), printed with repr() before the change.
GOLDEN_SECTION_REFERENCE = [
    ({}, 1.2023686051632125),
    ({"steps": 3}, 1.2023686051632123),
    ({"coefficients": (2.0, -1.5, 0.5), "steps": 2}, 1.0017584539199058),
    ({"coefficients": (3.0, -3.2, 1.2), "steps": 4}, 1.2104541054659759),
    ({"grid": 1001}, 1.2023686051632128),
]


@pytest.mark.parametrize("kwargs, reference", GOLDEN_SECTION_REFERENCE)
def test_ns_sup_matches_the_golden_section_reference(kwargs, reference):
    np.testing.assert_allclose(ns_sup(**kwargs), reference, rtol=1e-12, atol=0)


@pytest.mark.parametrize("shape", [(16, 16), (32, 8), (8, 32), (64, 48)])
def test_torch_newton_schulz_singular_values_within_the_bound(shape):
    torch.manual_seed(0)
    c = ns_sup()
    for k in range(10):
        g = torch.randn(*shape)
        if k % 2:  # spread singular values down to 1e-4 of the largest: exercises the x ~ 0.004 peak
            g = g @ torch.diag(torch.logspace(-4, 0, shape[1]))
        s = torch.linalg.svdvals(_zeropower_via_newtonschulz(g, NS_COEFFICIENTS, NS_STEPS, 1e-7).float())
        assert float(s.max()) <= c * (1 + TOL_BF16)


@pytest.mark.parametrize("adjust", [None, "match_rms_adamw"])
@pytest.mark.parametrize("shape", [(24, 8), (8, 24)])
def test_torch_muon_stays_in_the_predicted_spectral_ball(shape, adjust):
    """Random gradients, random start far outside: after the transient ||W||_op <= s c / lambda."""
    torch.manual_seed(1)
    lam, lr = 2.0, 0.05
    w = torch.nn.Parameter(10 * torch.randn(*shape))
    opt = torch.optim.Muon([w], lr=lr, weight_decay=lam, adjust_lr_fn=adjust)
    radius = muon_radius(shape, lam, adjust)
    worst = 0.0
    for t in range(600):
        w.grad = torch.randn(*shape) * (1 + 100 * (t % 7 == 0))
        opt.step()
        if t >= 400:  # (1 - 0.1)^400 * 10 * ||W0|| ~ 1e-17: the transient is over
            worst = max(worst, float(torch.linalg.matrix_norm(w.detach(), 2)) / radius)
    assert worst <= 1 + TOL_BF16
    assert muon_lr_scale(shape, adjust) == pytest.approx(
        (max(1, shape[0] / shape[1])) ** 0.5 if adjust is None else 0.2 * max(shape) ** 0.5)


def test_muon_radius_rejects_bad_input():
    with pytest.raises(ValueError):
        muon_radius((4, 4), 0.0)
    with pytest.raises(ValueError):
        muon_lr_scale((4, 4), "bogus")
