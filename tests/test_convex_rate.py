"""Property tests of the convex-rate results (book chapter ch-convex-rate):

* Lemma 3.3: L(x_t) - L(z) <= (1 - lam eta)(L(x_{t-1}) - L(z)) + H/2 eta^2 (1 + lam ||x_{t-1}||)^2
  for any feasible z, any x_{t-1} (inside or outside the ball) and any 0 <= lam eta <= 1;
* Theorem 3.5: with eta_t = 2/(lam (t+1)), L(x_t) - L* <= 2 H D^2/(t+2), D = max(2, 1 + lam||x0||)/lam,
  with L* from cvxpy.
"""

import numpy as np
from hypothesis import given, settings, strategies as st

from implicit_bias import norms, problems, reference, steepest

NORMS = st.sampled_from(["l1", "l2", "linf"])
TOL_REL = 1e-9     # relative round-off of O(1) loss differences


def _problem(kind, rng):
    if kind == "quadratic":
        return problems.ConvexQuadratic.random(5, rng, center_scale=2.0)
    return problems.LogisticRegression.random(30, 5, rng)


def _feasible_point(rng, name, radius, dim):
    u = norms.get_norm(name).random_point(rng, dim, radius)
    return rng.uniform(0, 1) * u


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), name=NORMS, kind=st.sampled_from(["quadratic", "logistic"]),
       lam=st.floats(0.2, 5.0), lam_lr=st.floats(0.0, 1.0), start_scale=st.floats(0.0, 5.0))
def test_lemma_3_3_one_step(seed, name, kind, lam, lam_lr, start_scale):
    rng = np.random.default_rng(seed)
    problem = _problem(kind, rng)
    norm, H, lr = norms.get_norm(name), problem.smoothness(name), lam_lr / lam
    x = start_scale / lam * _feasible_point(rng, name, 1.0, problem.dim)  # inside or outside
    z = _feasible_point(rng, name, 1 / lam, problem.dim)          # any feasible comparator
    x_next = steepest.nsd_wd_step(x, problem.grad(x), lr, lam, name)
    curvature = 0.5 * H * lr**2 * (1 + lam * norm.value(x)) ** 2
    lhs = problem.loss(x_next) - problem.loss(z)
    rhs = (1 - lam * lr) * (problem.loss(x) - problem.loss(z)) + curvature
    assert lhs <= rhs + TOL_REL * (1 + abs(problem.loss(x)) + abs(problem.loss(z)))


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), name=NORMS, kind=st.sampled_from(["quadratic", "logistic"]),
       lam=st.floats(0.3, 3.0), start_scale=st.floats(0.0, 4.0))
def test_theorem_3_5_rate(seed, name, kind, lam, start_scale):
    rng = np.random.default_rng(seed)
    problem = _problem(kind, rng)
    norm, steps = norms.get_norm(name), 300
    x0 = norm.random_point(rng, problem.dim, start_scale / lam)
    star = reference.constrained_minimum(problem, 1 / lam, name)
    traj = steepest.run_nsd_wd(problem.grad, x0, steepest.frank_wolfe_lrs(lam, steps),
                               weight_decay=lam, norm=name, loss_fn=problem.loss)
    t = np.arange(1, steps + 1)
    D = max(2.0, 1.0 + lam * norm.value(x0)) / lam
    gap = traj.losses[1:] - star.lower_bound  # over-estimates L(x_t) - L*: conservative
    assert np.all(gap <= 2 * problem.smoothness(name) * D**2 / (t + 2))
    if norm.value(x0) <= 1 / lam:
        assert np.all(gap <= 8 * problem.smoothness(name) / (lam**2 * (t + 2)))
    # iterates t >= 1 are feasible: they cannot beat the certified lower bound of L*
    assert np.all(traj.losses[1:] >= star.lower_bound - 1e-12)


@settings(max_examples=20, deadline=None)
@given(d=st.integers(1, 10), seed=st.integers(0, 2**31 - 1))
def test_eq3_smoothness_constants(d, seed):
    """H_inf = trace (brute force over sign vectors), H_2 = H_1 = 1, and H_inf < pi^2/6."""
    target = np.random.default_rng(seed).uniform(-1, 1, d)
    problem = problems.SeparableQuadratic(target)
    brute = max(np.abs(problem.hessian @ v).sum() for v in problems.sign_vectors(d))
    assert abs(problem.smoothness("linf") - brute) <= 1e-14 * brute
    assert problem.smoothness("l2") == 1.0 == problem.smoothness("l1")
    assert problem.smoothness("linf") < np.pi**2 / 6


def test_lemma_3_3_along_trajectories_and_the_curvature_term_is_needed():
    """Along NSD-WD runs with z = x* (cvxpy) the normalised slack is >= 0 and, on some step, < 1:
    dropping the curvature term would break the inequality, so this test can fail."""
    rng = np.random.default_rng(0)
    worst = np.inf
    for trial in range(6):
        problem = _problem("quadratic" if trial % 2 == 0 else "logistic", rng)
        for name in ("l1", "l2", "linf"):
            norm, lam = norms.get_norm(name), rng.uniform(0.5, 2.0)
            u = norm.random_point(rng, problem.dim)
            x0 = rng.uniform(0.0, 4.0) / lam * u
            traj = steepest.run_nsd_wd(problem.grad, x0, rng.uniform(0, 1, 40) / lam,
                                       weight_decay=lam, norm=name, loss_fn=problem.loss)
            z_loss = reference.constrained_minimum(problem, 1 / lam, name).loss
            sizes = np.array([norm.value(x) for x in traj.xs[:-1]])
            curvature = 0.5 * problem.smoothness(name) * traj.lrs**2 * (1 + lam * sizes) ** 2
            rhs = (1 - lam * traj.lrs) * (traj.losses[:-1] - z_loss) + curvature
            worst = min(worst, np.min((rhs - (traj.losses[1:] - z_loss)) / curvature))
    assert -TOL_REL <= worst < 1.0, worst


def test_theorem_3_5_constant_is_not_vacuous():
    """On a quadratic with an interior minimiser the gap reaches more than 1/16 of 8H/(lam^2 (t+2)):
    a bound with a constant 16 times smaller would be violated."""
    rng = np.random.default_rng(1)
    problem = problems.ConvexQuadratic.random(8, rng, center_scale=0.05)
    lam, steps = 2.0, 300
    t = np.arange(1, steps + 1)
    for name in ("l1", "l2", "linf"):
        star = reference.constrained_minimum(problem, 1 / lam, name)
        traj = steepest.run_nsd_wd(problem.grad, np.zeros(8), steepest.frank_wolfe_lrs(lam, steps),
                                   weight_decay=lam, norm=name, loss_fn=problem.loss)
        ratio = np.max((traj.losses[1:] - star.lower_bound) / (8 * problem.smoothness(name) / (lam**2 * (t + 2))))
        assert 1 / 16 < ratio <= 1.0, (name, ratio)
