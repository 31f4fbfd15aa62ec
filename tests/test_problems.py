"""Tests of implicit_bias.problems (losses, gradients, smoothness constants) and of the Section 5.2
runner ``steepest.loss_curves`` that uses them."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from implicit_bias import norms, problems, steepest

TOL_FLOAT64 = 1e-10  # relative: round-off of small matrix products and sums


def _random_problems(seed):
    rng = np.random.default_rng(seed)
    return [problems.ConvexQuadratic.random(5, rng, center_scale=2.0),
            problems.LogisticRegression.random(30, 5, rng),
            problems.box_target_quadratic(5, 2, rng)]


@pytest.mark.parametrize("index", range(3))
def test_gradient_matches_finite_differences(index):
    problem = _random_problems(0)[index]
    x = np.random.default_rng(1).normal(size=problem.dim)
    eps = 1e-6
    numeric = np.array([(problem.loss(x + eps * e) - problem.loss(x - eps * e)) / (2 * eps)
                        for e in np.eye(problem.dim)])
    np.testing.assert_allclose(problem.grad(x), numeric, rtol=1e-6, atol=1e-8)


def test_quadratic_constants_closed_forms():
    a = np.array([[2.0, -1.0], [-1.0, 2.0]])
    quad = problems.ConvexQuadratic(a, np.zeros(2))
    assert quad.smoothness("l2") == pytest.approx(3.0)
    assert quad.smoothness("l1") == pytest.approx(2.0)
    assert quad.smoothness("linf") == pytest.approx(6.0)   # v = (1, -1)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), name=st.sampled_from(["l1", "l2", "linf"]))
def test_smoothness_is_a_valid_lipschitz_constant(seed, name):
    """||grad x - grad y||_* <= H ||x - y|| for random pairs, for all three problem kinds."""
    norm = norms.get_norm(name)
    rng = np.random.default_rng(seed)
    for problem in _random_problems(seed):
        H = problem.smoothness(name)
        for _ in range(20):
            x, y = rng.normal(size=(2, problem.dim)) * rng.uniform(0.1, 5)
            lhs = norm.dual(problem.grad(x) - problem.grad(y))
            assert lhs <= H * norm.value(x - y) * (1 + TOL_FLOAT64) + 1e-14


@pytest.mark.parametrize("name", ["l1", "l2", "linf"])
def test_quadratic_constant_is_attained(name):
    """The exact constant of a quadratic is reached at the maximising vertex / eigenvector."""
    quad = problems.ConvexQuadratic.random(6, np.random.default_rng(3))
    norm = norms.get_norm(name)
    candidates = [*np.eye(6), np.linalg.eigh(quad.hessian)[1][:, -1], *problems.sign_vectors(6)]
    best = max(norm.dual(quad.hessian @ u) / norm.value(u) for u in candidates)
    assert best == pytest.approx(quad.smoothness(name), rel=TOL_FLOAT64)
    assert quad.smoothness_is_exact(name)


def test_linf_fallback_is_an_upper_bound_and_flagged():
    rng = np.random.default_rng(4)
    quad = problems.ConvexQuadratic.random(problems.MAX_ENUMERATION_DIM + 2, rng)
    assert not quad.smoothness_is_exact("linf")
    assert quad.smoothness("linf") == pytest.approx(np.abs(quad.hessian).sum())
    exact, flag = problems.psd_smoothness(quad.hessian, "linf", max_enumeration_dim=20)
    assert flag and exact <= quad.smoothness("linf") * (1 + TOL_FLOAT64)


@pytest.mark.parametrize("d", range(1, 11))
def test_eq3_linf_smoothness_is_the_trace_by_brute_force(d):
    problem = problems.SeparableQuadratic(np.zeros(d))
    h = problem.curvatures
    brute = max(np.abs(h * np.array(s)).sum() for s in itertools.product([-1.0, 1.0], repeat=d))
    assert problem.smoothness("linf") == pytest.approx(brute, rel=1e-14)
    assert problem.smoothness("l2") == 1.0 and problem.smoothness("l1") == 1.0
    assert problem.smoothness("linf") < np.pi**2 / 6


def test_box_target_quadratic_target():
    p = problems.box_target_quadratic(50, 10, np.random.default_rng(0))
    assert np.all(p.target[:10] == 1.0) and np.max(np.abs(p.target)) == 1.0
    assert p.loss(p.target) == 0.0
    with pytest.raises(ValueError, match="n_fixed"):
        problems.box_target_quadratic(5, 6, np.random.default_rng(0))
    with pytest.raises(ValueError, match="dim"):
        problems.box_target_quadratic(0, 0, np.random.default_rng(0))


def test_invalid_inputs():
    with pytest.raises(ValueError, match="positive semi-definite"):
        problems.ConvexQuadratic(-np.eye(2), np.zeros(2))
    with pytest.raises(ValueError, match="symmetric"):
        problems.ConvexQuadratic(np.array([[1.0, 1.0], [0.0, 1.0]]), np.zeros(2))
    with pytest.raises(ValueError, match="labels"):
        problems.LogisticRegression(np.eye(2), np.array([1.0, 0.5]))
    with pytest.raises(ValueError, match="norm"):
        problems.SeparableQuadratic(np.zeros(2)).smoothness("l3")
    with pytest.raises(ValueError, match="condition"):
        problems.ConvexQuadratic.random(2, np.random.default_rng(0), condition=0.5)


def test_loss_curves_match_the_package_runners():
    """steepest.loss_curves gives the losses of steepest.run_nsd_wd / run_steepest_descent."""
    rng = np.random.default_rng(5)
    p = problems.box_target_quadratic(20, 10, rng)
    x0, T = rng.uniform(-1, 1, 20), 30  # short: FW on a sphere amplifies round-off over long runs
    curves = steepest.loss_curves(p, x0, T)
    for name, size in (("l2", np.linalg.norm(p.target)), ("linf", np.abs(p.target).max())):
        lam = 1 / size
        lrs = steepest.frank_wolfe_lrs(lam, T)
        ref = {
            f"sd-{name}": steepest.run_steepest_descent(p.grad, x0, np.full(T, 1 / p.smoothness(name)),
                                                        norm=name, loss_fn=p.loss).losses,
            f"nsd-{name}": steepest.run_nsd_wd(p.grad, x0, lrs, weight_decay=0.0, norm=name,
                                               loss_fn=p.loss).losses,
            f"nsd-wd-{name}": steepest.run_nsd_wd(p.grad, x0, lrs, weight_decay=lam, norm=name,
                                                  loss_fn=p.loss).losses,
        }
        for method, losses in ref.items():
            np.testing.assert_allclose(curves[method], losses, rtol=1e-11, atol=1e-15, err_msg=str(method))
    with pytest.raises(ValueError, match="method"):
        steepest.loss_curves(p, x0, 5, methods=("adam",))


def test_haar_rotation_is_orthogonal_and_seeded():
    from implicit_bias.problems import haar_rotation

    R = haar_rotation(5, np.random.default_rng(0))
    np.testing.assert_allclose(R @ R.T, np.eye(5), atol=1e-14)
    np.testing.assert_array_equal(R, haar_rotation(5, np.random.default_rng(0)))


def test_rotated_quadratic_is_the_same_loss_and_gradient_descent_is_equivariant():
    from implicit_bias import steepest
    from implicit_bias.problems import ConvexQuadratic, haar_rotation

    rng = np.random.default_rng(1)
    quad = ConvexQuadratic.random(6, rng)
    R = haar_rotation(6, rng)
    rot = quad.rotated(R)
    x = rng.normal(size=6)
    np.testing.assert_allclose(rot.loss(R @ x), quad.loss(x), rtol=1e-12)
    np.testing.assert_allclose(rot.grad(R @ x), R @ quad.grad(x), atol=1e-13)
    np.testing.assert_allclose(rot.smoothness("l2"), quad.smoothness("l2"), rtol=1e-12)
    lrs = np.full(50, 0.5)
    gd = steepest.run_steepest_descent(quad.grad, x, lrs, norm="l2").xs
    gd_rot = steepest.run_steepest_descent(rot.grad, R @ x, lrs, norm="l2").xs
    np.testing.assert_allclose(gd_rot, gd @ R.T, atol=1e-12)
    sign = steepest.run_nsd_wd(quad.grad, x, lrs / 10, weight_decay=0.0, norm="linf").xs
    sign_rot = steepest.run_nsd_wd(rot.grad, R @ x, lrs / 10, weight_decay=0.0, norm="linf").xs
    assert np.abs(sign_rot - sign @ R.T).max() > 1e-3  # sign descent is not equivariant


def test_rotated_rejects_a_non_orthogonal_matrix():
    from implicit_bias.problems import ConvexQuadratic

    with pytest.raises(ValueError, match="orthogonal"):
        ConvexQuadratic(np.eye(2), np.zeros(2)).rotated(2 * np.eye(2))
