"""Tests of implicit_bias.counterexample (Appendix B.3, construction (B) for beta1 > beta2)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from implicit_bias.adamw import run_adamw
from implicit_bias.bounds import stationary_update_size
from implicit_bias import counterexample
from implicit_bias.counterexample import build_counterexample, ratio_threshold

CASES = [(0.99, 0.9, 1.0, 1e-3, 0.995), (0.9, 0.5, 1.0, 1e-2, 0.95), (0.95, 0.9, 2.0, 1e-3, 0.98)]


@settings(max_examples=80, deadline=None)
@given(beta2=st.floats(0.0, 0.99), frac1=st.floats(0.01, 0.99), frac_r=st.floats(0.001, 0.999))
def test_update_exceeds_one_above_threshold(beta2, frac1, frac_r):
    """For beta1 > beta2, D(r) > 1 on (max(beta1, sqrt(beta2), q_r), 1)."""
    beta1 = beta2 + (1 - beta2) * frac1
    lo = max(beta1, math.sqrt(beta2), ratio_threshold((beta1, beta2)))
    r = lo + (1 - lo) * frac_r
    if not r < 1.0 or r == lo:
        return
    assert stationary_update_size(r, (beta1, beta2)) > 1.0


@settings(max_examples=80, deadline=None)
@given(beta1=st.floats(0.0, 0.99), frac2=st.floats(0.0, 1.0), frac_r=st.floats(0.001, 0.999))
def test_update_at_most_one_when_beta1_le_beta2(beta1, frac2, frac_r):
    """The contrast: beta1 <= beta2 gives D(r) <= 1 for every admissible decay ratio."""
    beta2 = beta1 + (0.999 - beta1) * frac2
    lo = max(beta1, math.sqrt(beta2))
    r = lo + (1 - lo) * frac_r
    if not lo < r < 1.0:
        return
    assert stationary_update_size(r, (beta1, beta2)) <= 1.0 + 1e-12


@pytest.mark.parametrize("beta1, beta2, lam, eta, r", CASES)
def test_construction_b(beta1, beta2, lam, eta, r):
    steps = int(math.ceil(20 / (lam * eta)))
    ex = build_counterexample((beta1, beta2), eta, lam, r, steps)
    # Delta_t = -D(r) (1 - (beta1/r)^t) / sqrt(1 - (beta2/r^2)^t): two geometric sums, from m0 = v0 = 0
    t = np.arange(1, steps + 1)
    closed = (-stationary_update_size(r, (beta1, beta2)) * (1.0 - (beta1 / r) ** t)
              / np.sqrt(1.0 - (beta2 / r**2) ** t))
    assert np.max(np.abs(ex.deltas - closed) / np.abs(closed)) < 1e-12
    assert np.all(np.diff(ex.xs) > 0)                            # x_t strictly increasing
    assert np.all(np.diff(np.abs(ex.deltas)) >= -1e-15)          # |Delta_t| non-decreasing
    assert np.all(np.diff(ex.loss.slopes) >= 0)                  # L' non-decreasing: L convex
    assert lam * ex.limit > 1.0 and ex.xs[-1] < ex.limit
    assert lam * ex.xs[-1] > 1.0                                 # already outside the box
    # AdamW (zero moments, constant lr, eps = 0) on the plateau loss reproduces the run exactly
    run = run_adamw(ex.loss.grad, np.zeros(1), np.full(steps, eta), betas=(beta1, beta2), eps=0.0,
                    weight_decay=lam)
    np.testing.assert_array_equal(run.grads[:, 0], ex.grads)
    np.testing.assert_array_equal(run.xs[:, 0], ex.xs)


def test_reproduction_is_robust_to_a_perturbed_start():
    ex = build_counterexample((0.9, 0.5), 1e-2, 1.0, 0.95, 2000)
    x0 = 0.2 * ex.half_widths[0]
    run = run_adamw(ex.loss.grad, np.array([x0]), np.full(2000, 1e-2), betas=(0.9, 0.5), eps=0.0,
                    weight_decay=1.0)
    np.testing.assert_array_equal(run.grads[:, 0], ex.grads)


def test_loss_is_antiderivative_of_grad():
    ex = build_counterexample((0.9, 0.5), 1e-2, 1.0, 0.95, 500)
    z = np.linspace(-0.5, 2.5, 41)
    numeric = (ex.loss.loss(z + 1e-7) - ex.loss.loss(z - 1e-7)) / 2e-7
    assert np.max(np.abs(numeric - ex.loss.grad(z))) < 1e-6
    assert ex.loss.loss(0.0) == 0.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(betas=(0.5, 0.9)), "beta"),           # beta1 <= beta2: no counter-example
    (dict(betas=(0.9, 0.85)), "beta2 <= beta1"),  # outside the proved regime
    (dict(ratio=0.5), "ratio"),
    (dict(weight_decay=0.0), "weight_decay"),
    (dict(betas=(1.0, 0.5)), "beta1"),
])
def test_invalid_arguments(kwargs, match):
    args = dict(betas=(0.9, 0.5), lr=1e-2, weight_decay=1.0, ratio=0.95, steps=10) | kwargs
    with pytest.raises(ValueError, match=match):
        build_counterexample(**args)


def test_matched_moments_follow_the_closed_form_then_leave_it():
    con = counterexample.matched_moment_construction((0.9, 0.5), 1e-2, 1.0)
    assert con.update_size > 1 and abs(con.m0) / np.sqrt(con.v0) == pytest.approx(con.update_size)
    run = run_adamw(lambda x: x - con.center, np.zeros(1), np.full(3000, 1e-2), betas=(0.9, 0.5),
                    eps=0.0, weight_decay=1.0, m0=con.m0, v0=con.v0)
    dev = np.abs(run.xs[:, 0] - con.closed_form(np.arange(3001)))
    assert dev[:100].max() < 1e-9          # exact induction, one weight-decay horizon
    assert abs(run.xs[-1, 0] - 1.0) < 1e-6  # float64 falls back to the KKT point 1/lambda


def test_matched_moments_validate():
    with pytest.raises(ValueError):
        counterexample.matched_moment_construction((0.9, 0.5), 0.5, 1.0)  # q below the threshold
    with pytest.raises(ValueError):
        counterexample.matched_moment_construction((0.5, 0.9), 1e-2, 1.0)  # beta1 < beta2


def test_construction_b_beyond_its_proof():
    beta1, beta2 = 0.9, 0.855                      # beta1^2 < beta2 < beta1
    with pytest.raises(ValueError):
        counterexample.build_counterexample((beta1, beta2), 1e-2, 1.0, 0.98, 2000)
    ex = counterexample.build_counterexample((beta1, beta2), 1e-2, 1.0, 0.98, 2000, proved_regime=False)
    run = run_adamw(ex.loss.grad, np.zeros(1), np.full(2000, 1e-2), betas=(beta1, beta2), eps=0.0,
                    weight_decay=1.0)
    np.testing.assert_array_equal(run.xs[:, 0], ex.xs)
    assert ex.limit > 1.0, ex.limit


# ---------------------------------------------------------------- Section 6: not a Lion-K

@pytest.mark.parametrize("beta", [0.0, 0.3, 0.9, 0.999])
def test_same_momentum_streams_share_the_momentum_and_the_next_gradient(beta):
    from implicit_bias.adamw import adam_moments

    a, b = counterexample.same_momentum_streams(beta, grads=(0.7, -1.1, 0.4), shift=0.9)
    m_a = adam_moments(a[:2, None], (beta, beta))[0]
    m_b = adam_moments(b[:2, None], (beta, beta))[0]
    np.testing.assert_allclose(m_a[-1], m_b[-1], rtol=0, atol=1e-15)
    assert a[2] == b[2] and not np.array_equal(a, b)


def test_start_to_meet_puts_adamw_at_the_same_second_iterate():
    from implicit_bias import adamw
    from implicit_bias.bounds import replay_gradients

    def run(x0, grads):
        return adamw.run_adamw(replay_gradients(grads[:, None]), np.array([x0]), np.full(3, 0.2),
                               betas=(0.9, 0.99), weight_decay=2.0).xs[:, 0]

    streams = counterexample.same_momentum_streams(0.9)
    x0 = counterexample.start_to_meet(run, streams, 1 - 0.2 * 2.0)
    xa, xb = (run(x, g) for x, g in zip(x0, streams))
    np.testing.assert_allclose(xa[2], xb[2], rtol=0, atol=1e-15)
    assert abs(xa[3] - xb[3]) > 1e-3  # AdamW's v tells the streams apart


@pytest.mark.parametrize("kwargs, match", [(dict(momentum=1.0), "momentum"),
                                           (dict(momentum=0.5, shift=0.0), "shift"),
                                           (dict(momentum=0.5, grads=(1.0, 2.0)), "three")])
def test_same_momentum_streams_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        counterexample.same_momentum_streams(**kwargs)
