"""Tests of implicit_bias.steepest: Eq. 1 (NSD-WD), Eq. 2, Algorithm 2 (Frank--Wolfe) and runners.

Book: ch-steepest (Eq. 1, Eq. 2) and ch-nsd-fw (Lemma 3.1, Theorem 3.2).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from implicit_bias.norms import get_norm
from implicit_bias.steepest import (
    frank_wolfe_lrs,
    frank_wolfe_step,
    nsd_wd_step,
    run_frank_wolfe,
    run_nsd_wd,
    run_steepest_descent,
    steepest_descent_step,
)

REL_TOL = 1e-12  # a few ulps of accumulated round-off, relative to the scale of the iterates
NORM_EXPONENTS = [1.0, 1.5, 2.0, 3.0, math.inf]
SETTINGS = settings(max_examples=40, deadline=None)

exponents = st.sampled_from(NORM_EXPONENTS)
seeds = st.integers(0, 2**32 - 1)


def quadratic_grad(center):
    """Gradient of L(x) = ||x - c||_2^2 / 2, a convex loss."""
    return lambda x: x - center


def nonconvex_grad(x):
    """Gradient of L(x) = sum_i cos(3 x_i) + ||x||^2 / 10 - x_1, a non-convex loss."""
    g = -3.0 * np.sin(3.0 * x) + x / 5.0
    g[0] -= 1.0
    return g


def outward_direction(x, norm, rng):
    """An update of norm 1 that makes the triangle inequality of Lemma 3.1 tight:
    Delta = -x / ||x|| pushes x straight outward.  Falls back to a random unit vector at x = 0."""
    length = norm.value(x)
    if length == 0.0:
        z = rng.standard_normal(x.shape)
        return z / norm.value(z)
    return -x / length


# ----- invalid inputs ---------------------------------------------------------------------

X, G = np.array([1.0, -2.0]), np.array([0.5, 3.0])


@pytest.mark.parametrize("kwargs, name", [
    (dict(lr=-0.1, weight_decay=1.0), "lr"),
    (dict(lr=math.nan, weight_decay=1.0), "lr"),
    (dict(lr=math.inf, weight_decay=0.0), "lr"),
    (dict(lr=0.1, weight_decay=-1.0), "weight_decay"),
    (dict(lr=0.1, weight_decay=math.nan), "weight_decay"),
    (dict(lr=0.5, weight_decay=3.0), "weight_decay"),  # lr * weight_decay = 1.5 > 1
])
def test_invalid_nsd_wd_and_steepest_descent_inputs(kwargs, name):
    with pytest.raises(ValueError, match=name):
        nsd_wd_step(X, G, norm="linf", **kwargs)
    with pytest.raises(ValueError, match=name):
        steepest_descent_step(X, G, norm="linf", **kwargs)
    with pytest.raises(ValueError, match=name):
        run_nsd_wd(quadratic_grad(np.zeros(2)), X, [kwargs["lr"]], norm="linf",
                   weight_decay=kwargs["weight_decay"])


@pytest.mark.parametrize("step_size", [-0.01, 1.01, math.nan, math.inf])
def test_invalid_frank_wolfe_step_size(step_size):
    with pytest.raises(ValueError, match="step_size"):
        frank_wolfe_step(X, G, step_size, 1.0, "l2")


@pytest.mark.parametrize("radius", [-1.0, math.inf, math.nan])
def test_invalid_frank_wolfe_radius(radius):
    with pytest.raises(ValueError, match="radius"):
        frank_wolfe_step(X, G, 0.5, radius, "l2")


def test_invalid_schedules_and_steps():
    with pytest.raises(ValueError, match="weight_decay"):
        frank_wolfe_lrs(0.0, 5)
    with pytest.raises(ValueError, match="steps"):
        frank_wolfe_lrs(1.0, -1)
    with pytest.raises(ValueError, match="lrs"):
        run_nsd_wd(quadratic_grad(np.zeros(2)), X, [0.1, -0.1], weight_decay=1.0, norm="l2")
    with pytest.raises(ValueError, match="lrs"):
        run_nsd_wd(quadratic_grad(np.zeros(2)), X, [[0.1, 0.1]], weight_decay=1.0, norm="l2")
    with pytest.raises(ValueError, match="step_sizes"):
        run_frank_wolfe(quadratic_grad(np.zeros(2)), X, [math.nan], radius=1.0, norm="l2")


def test_boundary_values_are_allowed():
    """lr * weight_decay = 1 and step sizes 0 and 1 are valid (Theorem 3.5 starts with gamma_1 = 1)."""
    x = nsd_wd_step(X, G, 0.5, 2.0, "linf")
    np.testing.assert_allclose(x, -0.5 * np.sign(G))
    np.testing.assert_array_equal(frank_wolfe_step(X, G, 0.0, 1.0, "l2"), X)
    np.testing.assert_allclose(frank_wolfe_step(X, G, 1.0, 2.0, "l1"), [0.0, -2.0])


# ----- Eq. 1 and Eq. 2 --------------------------------------------------------------------

def test_nsd_wd_step_linf_is_signgd_with_decay():
    x = nsd_wd_step(np.array([1.0, -2.0, 0.5]), np.array([3.0, -0.5, 0.0]), 0.1, 2.0, "linf")
    np.testing.assert_allclose(x, 0.8 * np.array([1.0, -2.0, 0.5]) - 0.1 * np.array([1.0, -1.0, 0.0]))


def test_steepest_descent_l2_is_gradient_descent():
    x, g = np.array([1.0, -2.0, 0.5]), np.array([3.0, -0.5, 0.25])
    np.testing.assert_allclose(steepest_descent_step(x, g, 0.1, 0.5, "l2"), 0.95 * x - 0.1 * g,
                               rtol=REL_TOL)


@SETTINGS
@given(p=exponents, seed=seeds, lr=st.floats(0.0, 5.0))
def test_eq2_step_is_dual_norm_times_nsd_step(p, seed, lr):
    """Without weight decay, x - Eq2(x) = ||g||_* (x - Eq1(x)): the remark after Eq. 2."""
    rng = np.random.default_rng(seed)
    x, g = rng.standard_normal(6), rng.standard_normal(6)
    g[rng.random(6) < 0.3] = 0.0
    norm = get_norm(p)
    nsd_move = x - nsd_wd_step(x, g, lr, 0.0, norm)
    sd_move = x - steepest_descent_step(x, g, lr, 0.0, norm)
    np.testing.assert_allclose(sd_move, norm.dual(g) * nsd_move, rtol=REL_TOL, atol=1e-15)


@SETTINGS
@given(p=exponents, seed=seeds)
def test_eq2_direction_minimises_linear_plus_half_squared_norm(p, seed):
    """d* = -||g||_* Delta minimises <g, d> + ||d||^2 / 2, with value -||g||_*^2 / 2."""
    rng = np.random.default_rng(seed)
    norm = get_norm(p)
    g = rng.standard_normal(5) * rng.exponential()
    d_star = steepest_descent_step(np.zeros(5), g, 1.0, 0.0, norm)
    value = g @ d_star + 0.5 * norm.value(d_star) ** 2
    scale = norm.dual(g) ** 2
    assert abs(value + 0.5 * scale) <= REL_TOL * scale
    others = rng.standard_normal((300, 5)) * norm.dual(g) * rng.exponential(size=(300, 1))
    other_values = others @ g + 0.5 * np.array([norm.value(d) ** 2 for d in others])
    assert np.all(other_values >= value - REL_TOL * scale)


# ----- Lemma 3.1 --------------------------------------------------------------------------

@SETTINGS
@given(p=exponents, seed=seeds, weight_decay=st.floats(0.05, 5.0),
       start_scale=st.floats(0.0, 20.0), adversarial=st.booleans())
def test_lemma_3_1_on_random_schedules(p, seed, weight_decay, start_scale, adversarial):
    """||x_t|| - 1/lam <= prod_s (1 - lam eta_s) (||x_0|| - 1/lam) if outside, and the ball is
    invariant, for arbitrary updates of norm <= 1 and any schedule with lam eta_t <= 1."""
    rng = np.random.default_rng(seed)
    norm = get_norm(p)
    radius = 1.0 / weight_decay
    x = rng.standard_normal(4)
    x *= start_scale * radius / norm.value(x)
    gap0 = norm.value(x) - radius
    lrs = rng.random(60) ** 2 / weight_decay  # lam * eta_t in [0, 1], some near 0 and near 1
    contraction = 1.0
    for lr in lrs:
        if adversarial or rng.random() < 0.5:
            update = outward_direction(x, norm, rng)
        else:
            update = rng.standard_normal(4)
            update *= rng.random() / norm.value(update)
        x = (1.0 - lr * weight_decay) * x - lr * update
        contraction *= 1.0 - lr * weight_decay
        bound = contraction * gap0 if gap0 > 0 else 0.0
        assert norm.value(x) - radius <= bound + REL_TOL * max(radius, norm.value(x))


def test_lemma_3_1_outward_updates_make_the_bound_tight():
    """With Delta = -x/||x|| outside the ball the bound of Lemma 3.1 holds with equality."""
    norm, weight_decay, lr = get_norm("l2"), 1.0, 0.1
    x = np.array([3.0, 4.0])
    for t in range(1, 30):
        x = (1 - lr * weight_decay) * x - lr * (-x / norm.value(x))
        expected = (1 - lr * weight_decay) ** t * (5.0 - 1.0)
        assert norm.value(x) - 1.0 == pytest.approx(expected, rel=1e-12)


# ----- Theorem 3.2 ------------------------------------------------------------------------

@SETTINGS
@given(p=exponents, seed=seeds, weight_decay=st.floats(0.05, 5.0),
       start_scale=st.floats(0.0, 5.0), convex=st.booleans())
def test_frank_wolfe_equals_nsd_wd(p, seed, weight_decay, start_scale, convex):
    """Theorem 3.2: an NSD-WD step with lr eta_t equals a Frank--Wolfe step on ||x|| <= 1/lam with
    gamma_t = lam eta_t, from every iterate of a run, inside and outside the ball, on convex and
    non-convex losses.  Whole trajectories are compared on the convex loss only: on the non-convex
    one, large steps can amplify the 1-ulp difference between the two (as they would amplify a
    1-ulp change of x_0 in NSD-WD alone); the book's ch-nsd-fw shows this."""
    rng = np.random.default_rng(seed)
    norm = get_norm(p)
    grad = quadratic_grad(3.0 * rng.standard_normal(4)) if convex else nonconvex_grad
    x0 = norm.random_point(rng, 4, start_scale / weight_decay)
    lrs = rng.random(40) / weight_decay
    scale = max(1.0 / weight_decay, norm.value(x0))
    nsd = run_nsd_wd(grad, x0, lrs, weight_decay=weight_decay, norm=norm)
    for x, x_next, lr in zip(nsd.xs, nsd.xs[1:], lrs):
        fw_next = frank_wolfe_step(x, grad(x), weight_decay * lr, 1.0 / weight_decay, norm)
        assert np.max(np.abs(fw_next - x_next)) <= 10 * REL_TOL * scale  # one step of round-off
    if convex:
        fw = run_frank_wolfe(grad, x0, weight_decay * lrs, radius=1.0 / weight_decay, norm=norm)
        assert np.max(np.abs(nsd.xs - fw.xs)) <= 1e3 * REL_TOL * scale  # 40 steps of round-off


def test_frank_wolfe_lrs_match_theorem_3_5():
    lrs = frank_wolfe_lrs(2.0, 3)
    assert lrs[0] == 0.5 and lrs[2] == 0.25  # eta_t = 2 / (lam (t + 1)), gamma_1 = 1


# ----- runners ----------------------------------------------------------------------------

def test_runner_records_every_iterate_and_loss():
    center = np.array([2.0, -1.0])
    traj = run_steepest_descent(quadratic_grad(center), np.zeros(2), np.full(30, 0.5), norm="l2",
                                loss_fn=lambda x: 0.5 * np.sum((x - center) ** 2))
    assert traj.xs.shape == (31, 2) and traj.losses.shape == (31,) and traj.lrs.shape == (30,)
    np.testing.assert_allclose(traj.final, center, atol=1e-8)  # GD with lr 0.5 on a unit quadratic
    assert np.all(np.diff(traj.losses) <= 0)
    np.testing.assert_allclose(traj.norms("l2")[0], 0.0)
