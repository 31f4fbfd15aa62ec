"""Tests of implicit_bias.reference: the cvxpy constrained minimiser against closed forms."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from implicit_bias import norms, problems, reference

TOL_SOLVER = 1e-7  # Clarabel at tolerance 1e-10 (or 1e-8 after a retry), on O(1) solutions


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), radius=st.floats(0.1, 3.0))
def test_linf_minimiser_of_separable_quadratic_is_a_clip(seed, radius):
    """For diag(h) > 0 the problem separates: x*_i = clip(c_i, -r, r)."""
    rng = np.random.default_rng(seed)
    d = 6
    target = rng.normal(scale=2.0, size=d)
    curvatures = rng.uniform(0.1, 2.0, size=d)
    problem = problems.SeparableQuadratic(target, curvatures=curvatures)
    sol = reference.constrained_minimum(problem, radius, "linf")
    clip = np.clip(target, -radius, radius)
    # strong convexity turns the certified loss gap into a distance: |x - x*|^2 <= 2 gap / min h
    # (a target next to +-radius is a near-degenerate kink, where x is less accurate than the loss)
    x_tol = TOL_SOLVER + np.sqrt(2 * max(sol.loss - sol.lower_bound, 0.0) / curvatures.min())
    np.testing.assert_allclose(sol.x, clip, atol=x_tol, rtol=0)
    assert sol.loss == pytest.approx(problem.loss(clip), abs=TOL_SOLVER)
    assert sol.status == "optimal" and sol.constraint_violation <= TOL_SOLVER
    # the certificate brackets the true minimum: lower_bound <= L(clip) <= loss
    assert sol.lower_bound <= problem.loss(clip) + 1e-12 and problem.loss(clip) <= sol.loss + 1e-12
    assert norms.get_norm("linf").value(sol.x) <= radius


def test_l2_minimiser_of_isotropic_quadratic_is_a_projection():
    c = np.array([3.0, 4.0, 0.0])
    sol = reference.constrained_minimum(problems.ConvexQuadratic(np.eye(3), c), 1.0, "l2")
    np.testing.assert_allclose(sol.x, c / 5.0, atol=TOL_SOLVER, rtol=0)


def test_l1_minimiser_of_isotropic_quadratic_is_soft_thresholding():
    """Projection onto the l1 ball: soft-threshold at tau with sum(|c| - tau)_+ = r."""
    c = np.array([2.0, -1.0, 0.2])
    sol = reference.constrained_minimum(problems.ConvexQuadratic(np.eye(3), c), 1.5, "l1")
    tau = 0.75  # (2 - tau) + (1 - tau) = 1.5
    np.testing.assert_allclose(sol.x, np.sign(c) * np.maximum(np.abs(c) - tau, 0.0), atol=TOL_SOLVER, rtol=0)


@pytest.mark.parametrize("name", ["l1", "l2", "linf"])
def test_logistic_minimum_is_first_order_optimal(name):
    """At x* the Frank-Wolfe gap <g, x* - s> with s = lmo(g, r) vanishes (optimality on the ball)."""
    rng = np.random.default_rng(7)
    problem = problems.LogisticRegression.random(40, 5, rng)
    radius = 0.5
    sol = reference.constrained_minimum(problem, radius, name)
    g = problem.grad(sol.x)
    fw_gap = g @ (sol.x - norms.get_norm(name).lmo(g, radius))
    assert abs(fw_gap) <= 1e-6
    assert abs(sol.loss - sol.solver_value) <= 1e-8


def test_errors():
    quad = problems.ConvexQuadratic(np.eye(2), np.ones(2))
    with pytest.raises(ValueError, match="radius"):
        reference.constrained_minimum(quad, 0.0, "l2")
    with pytest.raises(ValueError, match="norm"):
        reference.constrained_minimum(quad, 1.0, "l3")
    with pytest.raises(TypeError, match="cvxpy form"):
        reference.cvxpy_loss(object(), None)


def test_solver_error_raises_runtime_error():
    """A solver that cannot run (here: not installed) is reported as a RuntimeError."""
    quad = problems.ConvexQuadratic(np.eye(3), np.full(3, 5.0))
    with pytest.raises(RuntimeError, match="SCS_FAKE failed"):
        reference.constrained_minimum(quad, 1.0, "l2", solver="SCS_FAKE")


def test_non_optimal_status_raises_runtime_error_naming_it(monkeypatch):
    """A solve that ends without reaching "optimal" (simulated) must not return an L*."""
    import cvxpy as cp

    def stalled_solve(self, *args, **kwargs):
        self._status = "optimal_inaccurate"

    monkeypatch.setattr(cp.Problem, "solve", stalled_solve)
    quad = problems.ConvexQuadratic(np.eye(3), np.full(3, 5.0))
    with pytest.raises(RuntimeError, match="optimal_inaccurate"):
        reference.constrained_minimum(quad, 1.0, "l2")


@pytest.mark.parametrize("name, tol", [("l1", 1e-14), ("linf", 1e-14), ("l2", 1e-7), ("l3", 1e-4)])
def test_linear_minimizer_matches_the_closed_form_oracle(name, tol):
    from implicit_bias.norms import get_norm
    from implicit_bias.reference import linear_minimizer

    rng = np.random.default_rng(3)
    for _ in range(3):
        g, r = rng.standard_normal(5), rng.uniform(0.5, 2.0)
        assert np.abs(linear_minimizer(g, r, name) - get_norm(name).lmo(g, r)).max() <= tol * r


@pytest.mark.parametrize("name, tol", [("l1", 1e-7), ("linf", 1e-7), ("l2", 1e-7), ("l1.5", 1e-4)])
def test_steepest_descent_minimizer_is_eq_2(name, tol):
    from implicit_bias.norms import get_norm
    from implicit_bias.reference import steepest_descent_minimizer

    norm, g = get_norm(name), np.random.default_rng(4).standard_normal(5)
    d = steepest_descent_minimizer(g, name)
    assert np.abs(d + norm.dual(g) * norm.steepest_direction(g)).max() <= tol * np.abs(g).sum()
