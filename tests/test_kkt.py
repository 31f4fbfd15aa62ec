"""Tests of implicit_bias.kkt: the KKT residual of Lemma 3.8, the Frank-Wolfe gap and the l_inf diagnostic."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from implicit_bias import kkt, steepest
from implicit_bias.kkt import frank_wolfe_gap, kkt_residual, linf_kkt_diagnostic
from implicit_bias.norms import get_norm

NORMS = ["l1", "l2", "linf"]
TOL = 1e-13  # a few ulps of a dual norm and an inner product of O(1) vectors

finite = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)
gradients = arrays(np.float64, st.integers(1, 8), elements=finite).filter(
    lambda g: np.abs(g).max() > 1e-3)
weight_decays = st.floats(0.1, 10.0)


def kkt_point(grad, weight_decay, norm):
    """x = -Delta/lambda with Delta a steepest direction of g: on the sphere, <-lambda x, g> = ||g||_*."""
    return -get_norm(norm).steepest_direction(grad) / weight_decay


@pytest.mark.parametrize("norm", NORMS)
def test_zero_at_boundary_kkt_points(norm):
    g = np.array([3.0, -1.0, 0.5, 0.0])
    x = kkt_point(g, 2.0, norm)
    assert kkt_residual(x, g, 2.0, norm) <= TOL
    assert abs(frank_wolfe_gap(x, g, 2.0, norm)) <= TOL


@pytest.mark.parametrize("norm", NORMS)
def test_zero_at_interior_stationary_point(norm):
    x = np.array([0.1, -0.2, 0.05])
    assert kkt_residual(x, np.zeros(3), 1.0, norm) == 0.0
    assert kkt_residual(x, np.zeros(3), 1.0, norm, grad_scale=1.0) == 0.0
    assert frank_wolfe_gap(x, np.zeros(3), 1.0, norm) == 0.0


def test_linf_kkt_with_free_coordinates():
    # lambda = 4: coordinates 0, 2 on the face pushed by the gradient, coordinate 1 free with g = 0
    x, g = np.array([-0.25, 0.1, 0.25]), np.array([2.0, 0.0, -5.0])
    assert kkt_residual(x, g, 4.0, "linf") == 0.0
    diag = linf_kkt_diagnostic(x, g, 4.0)
    assert np.all(diag.violation == 0.0) and diag.worst == 0.0


@pytest.mark.parametrize("norm", NORMS)
def test_positive_off_kkt_points(norm):
    g = np.array([1.0, -2.0, 0.5])
    x_kkt = kkt_point(g, 1.0, norm)
    assert kkt_residual(0.5 * x_kkt, g, 1.0, norm) > 0.4     # interior, g != 0
    assert kkt_residual(-x_kkt, g, 1.0, norm) > 1.9          # wrong face
    assert kkt_residual(2.0 * x_kkt, g, 1.0, norm) > 0.9     # infeasible, aligned


def test_infeasible_aligned_point_is_not_kkt():
    # <-lambda x, g> exceeds ||g||_* outside the ball; the positive part keeps the residual positive
    x, g = np.array([-2.0, 0.0]), np.array([1.0, 0.0])
    assert kkt_residual(x, g, 1.0, "l2") == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(g=gradients, lam=weight_decays, norm=st.sampled_from(NORMS), s=st.floats(0.0, 1.0))
def test_residual_on_the_ray_is_one_minus_s(g, lam, norm, s):
    """x = -s Delta/lambda: the residual is exactly 1 - s and the gap (1 - s)||g||_*/lambda."""
    x = s * kkt_point(g, lam, norm)
    dual = get_norm(norm).dual(g)
    assert kkt_residual(x, g, lam, norm) == pytest.approx(1.0 - s, abs=TOL)
    assert frank_wolfe_gap(x, g, lam, norm) == pytest.approx((1.0 - s) * dual / lam, abs=TOL * dual)


@settings(max_examples=60, deadline=None)
@given(g=gradients, x=arrays(np.float64, 8, elements=finite), lam=weight_decays,
       norm=st.sampled_from(NORMS), scale=st.floats(1e-6, 1e6))
def test_scale_free_and_nonnegative(g, x, lam, norm, scale):
    x = x[: g.size]
    r = kkt_residual(x, g, lam, norm)
    assert r >= 0.0
    assert kkt_residual(x, scale * g, lam, norm) == pytest.approx(r, rel=1e-12, abs=TOL)


@settings(max_examples=60, deadline=None)
@given(g=gradients, x=arrays(np.float64, 8, elements=finite), lam=weight_decays,
       norm=st.sampled_from(NORMS))
def test_feasible_points_have_nonnegative_gap_and_zero_residual_iff_kkt(g, x, lam, norm):
    nrm = get_norm(norm)
    x = x[: g.size]
    if nrm.value(x) > 0:
        x = x / max(1.0, lam * nrm.value(x))  # project radially onto the ball
    gap = frank_wolfe_gap(x, g, lam, norm)
    assert gap >= -TOL * nrm.dual(g) / lam
    # on the feasible set the residual is the gap rescaled: lambda G / ||g||_*
    assert kkt_residual(x, g, lam, norm) == pytest.approx(max(gap, 0) * lam / nrm.dual(g),
                                                          abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(c=arrays(np.float64, 5, elements=finite), h=arrays(np.float64, 5, elements=st.floats(0.1, 5)),
       z=arrays(np.float64, 5, elements=st.floats(-1, 1)), lam=st.floats(0.2, 5))
def test_gap_bounds_suboptimality_of_convex_loss(c, h, z, lam):
    """Separable quadratic: x* = clip(c), L(z) - L(x*) <= G(z) for feasible z, and x* is KKT."""
    loss = lambda x: 0.5 * np.sum(h * (x - c) ** 2)
    x_star = np.clip(c, -1 / lam, 1 / lam)
    z = z / lam
    assert loss(z) - loss(x_star) <= frank_wolfe_gap(z, h * (z - c), lam, "linf") + 1e-10
    assert kkt_residual(x_star, h * (x_star - c), lam, "linf") <= 1e-12


def test_linf_diagnostic_sums_to_residual():
    rng = np.random.default_rng(0)
    for _ in range(50):
        g, x = rng.normal(size=6), rng.uniform(-1, 1, size=6)
        diag = linf_kkt_diagnostic(x, g, 1.0)
        assert diag.relative.sum() == pytest.approx(kkt_residual(x, g, 1.0, "linf"), abs=TOL)
        assert np.all(diag.slack >= -TOL)


def test_linf_diagnostic_flags_the_offending_coordinate():
    diag = linf_kkt_diagnostic([-1.0, 0.3, 1.5], [2.0, 1.0, 0.0], 1.0)
    assert diag.violation[0] == 0.0
    assert diag.slack[1] == pytest.approx(1.3)          # interior with g != 0
    assert diag.infeasibility[2] == pytest.approx(0.5)  # outside the box


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_invalid_weight_decay(bad):
    for fn in (lambda: kkt_residual([0.0], [1.0], bad, "l2"),
               lambda: frank_wolfe_gap([0.0], [1.0], bad, "l2"),
               lambda: linf_kkt_diagnostic([0.0], [1.0], bad)):
        with pytest.raises(ValueError, match="weight_decay"):
            fn()


def test_invalid_inputs():
    with pytest.raises(ValueError, match="grad_scale"):
        kkt_residual([0.0], [1.0], 1.0, "l2", grad_scale=-1.0)
    with pytest.raises(ValueError, match="shape"):
        kkt_residual([0.0, 1.0], [1.0], 1.0, "l2")
    with pytest.raises(ValueError, match="finite"):
        kkt_residual([np.nan], [1.0], 1.0, "l2")


def test_grad_scale_makes_residual_continuous_at_zero_gradient():
    x = np.array([0.2, -0.1])
    tiny = np.array([1e-12, 3e-12])
    assert kkt_residual(x, tiny, 1.0, "l2") > 0.5            # scale-free: direction only
    assert kkt_residual(x, tiny, 1.0, "l2", grad_scale=1.0) < 1e-11


# ---------------------------------------------------------------- the Frank--Wolfe rate

def _indefinite(seed, dim=6):
    from implicit_bias.nonconvex import IndefiniteQuadratic

    return IndefiniteQuadratic.random(dim, np.random.default_rng(seed))


@pytest.mark.parametrize("norm", ["l1", "l2", "linf"])
def test_indefinite_quadratic_smoothness_is_the_exact_lipschitz_constant(norm):
    from implicit_bias.norms import get_norm

    q = _indefinite(0)
    n, h = get_norm(norm), q.smoothness(norm)
    rng = np.random.default_rng(1)
    ratios = []
    for _ in range(2000):
        x, y = rng.normal(size=(2, q.dim))
        ratios.append(n.dual(q.grad(x) - q.grad(y)) / n.value(x - y))
    assert max(ratios) <= h * (1 + 1e-12)
    # attained: at the maximising vertex u of the unit ball, ||A u||_* = H exactly
    from implicit_bias.problems import sign_vectors

    vertices = {"l1": np.eye(q.dim), "l2": np.linalg.eigh(q.hessian)[1].T,
                "linf": sign_vectors(q.dim)}[norm]
    np.testing.assert_allclose(max(n.dual(q.hessian @ u) / n.value(u) for u in vertices), h, rtol=1e-12)


def test_indefinite_quadratic_is_not_convex_and_rejects_bad_input():
    from implicit_bias.nonconvex import IndefiniteQuadratic

    eigenvalues = np.linalg.eigvalsh(_indefinite(0).hessian)
    assert eigenvalues[0] < 0 < eigenvalues[-1]
    with pytest.raises(ValueError, match="symmetric"):
        IndefiniteQuadratic(np.array([[0.0, 1.0], [0.0, 0.0]]), np.zeros(2))
    with pytest.raises(ValueError, match="'l1', 'l2' or 'linf'"):
        _indefinite(0).smoothness("l3")


@pytest.mark.parametrize("norm", ["l1", "l2", "linf"])
@pytest.mark.parametrize("seed", [0, 1])
def test_frank_wolfe_min_gap_is_within_the_rate(norm, seed):
    q, lam = _indefinite(seed), 1.0
    x0 = np.zeros(q.dim)
    g0 = kkt.frank_wolfe_gap(x0, q.grad(x0), lam, norm)
    for steps in (1, 10, 100, 1000):
        run = steepest.run_frank_wolfe(q.grad, x0, np.full(steps, 1 / np.sqrt(steps + 1)),
                                       radius=1 / lam, norm=norm)
        min_gap = min(kkt.frank_wolfe_gap(x, q.grad(x), lam, norm) for x in run.xs[:-1])
        assert 0 <= min_gap <= kkt.frank_wolfe_gap_bound(g0, q.smoothness(norm), lam, steps)


def test_frank_wolfe_gap_bound_rejects_bad_input():
    with pytest.raises(ValueError, match="smoothness"):
        kkt.frank_wolfe_gap_bound(1.0, -1.0, 1.0, 3)
    with pytest.raises(ValueError, match="weight_decay"):
        kkt.frank_wolfe_gap_bound(1.0, 1.0, 0.0, 3)
    with pytest.raises(ValueError, match="steps"):
        kkt.frank_wolfe_gap_bound(1.0, 1.0, 1.0, -1)
