"""Every public function rejects non-finite entries and mismatched shapes with a ValueError that
names the argument (issue 9: no silent broadcasting, no NaN treated as a number).

Hypothesis chooses the function, the entry that is spoiled and the spoiling value (nan, +inf or
-inf), and, for the shape checks, a shape that differs from the one required.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from implicit_bias import (adamw, bounds, counterexample, kkt, nonconvex, optim, problems,
                           reference, steepest)
from implicit_bias.norms import get_norm

SETTINGS = settings(max_examples=200, deadline=None)


def names(argument: str) -> str:
    """A regex for the argument's name as a word of the message ("x" is not the x of "max")."""
    return rf"(?<![\w.]){re.escape(argument)}(?!\w)"


X = np.array([0.5, -1.0, 2.0])
LRS = np.array([0.1, 0.05, 0.02])
LINF = get_norm("linf")
QUAD = problems.ConvexQuadratic(np.diag([1.0, 2.0, 3.0]), np.zeros(3))
SEP = problems.SeparableQuadratic(np.ones(3))
LOGISTIC = problems.LogisticRegression(np.eye(3), np.array([1.0, -1.0, 1.0]))
ROSEN = nonconvex.Rosenbrock(dim=3)
NET = nonconvex.TwoLayerNet.make(n_samples=4, n_inputs=2, n_hidden=1)  # dim 3
SEQ = bounds.adam_ratio_sequence(np.ones((3, 3)), (0.5, 0.9))
PLATEAU = counterexample.build_counterexample((0.9, 0.5), 1e-2, 1.0, 0.95, 10).loss
BETAS = dict(betas=(0.9, 0.99), eps=0.0, weight_decay=0.1)


def _torch_nsd_step(grad):
    param = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    param.grad = torch.tensor(grad)
    optim.NormalizedSteepestDescent([param], lr=0.1, norm="l2").step()


#: (argument named in the message, a valid value of it, the call with that argument replaced)
NON_FINITE_CASES = [
    ("x", X, lambda a: LINF.value(a)),
    ("g", X, lambda a: LINF.dual(a)),
    ("g", X, lambda a: LINF.steepest_direction(a)),
    ("g", X, lambda a: get_norm(3.0).lmo(a, 1.0)),
    ("x", X, lambda a: steepest.nsd_wd_step(a, X, 0.1, 1.0, "linf")),
    ("grad", X, lambda a: steepest.nsd_wd_step(X, a, 0.1, 1.0, "linf")),
    ("x", X, lambda a: steepest.steepest_descent_step(a, X, 0.1, 1.0, "l2")),
    ("grad", X, lambda a: steepest.steepest_descent_step(X, a, 0.1, 1.0, "l2")),
    ("x", X, lambda a: steepest.frank_wolfe_step(a, X, 0.5, 1.0, "l1")),
    ("grad", X, lambda a: steepest.frank_wolfe_step(X, a, 0.5, 1.0, "l1")),
    ("x0", X, lambda a: steepest.run_nsd_wd(QUAD.grad, a, LRS, weight_decay=1.0, norm="l2")),
    ("lrs", LRS, lambda a: steepest.run_nsd_wd(QUAD.grad, X, a, weight_decay=1.0, norm="l2")),
    ("lrs", LRS, lambda a: steepest.run_steepest_descent(QUAD.grad, X, a, norm="linf")),
    ("step_sizes", LRS, lambda a: steepest.run_frank_wolfe(QUAD.grad, X, a, radius=1.0, norm="l2")),
    ("x0", X, lambda a: steepest.loss_curves(SEP, a, 3)),
    ("x", X, lambda a: kkt.kkt_residual(a, X, 1.0, "linf")),
    ("grad", X, lambda a: kkt.kkt_residual(X, a, 1.0, "linf")),
    ("grad", X, lambda a: kkt.frank_wolfe_gap(X, a, 1.0, "l2")),
    ("x", X, lambda a: kkt.linf_kkt_diagnostic(a, X, 1.0)),
    ("xs", X, lambda a: kkt.kkt_residual_path(a[:, None], lambda x: x, 1.0, "linf")),
    ("deltas", X, lambda a: kkt.averaged_direction(a, LRS)),
    ("lrs", LRS, lambda a: kkt.averaged_direction(X, a)),
    ("m", X, lambda a: adamw.adam_direction(a, np.ones(3))),
    ("v", np.ones(3), lambda a: adamw.adam_direction(X, a)),
    ("grads", X, lambda a: adamw.adam_moments(a, (0.9, 0.99))),
    ("x0", X, lambda a: adamw.run_adamw(QUAD.grad, a, LRS, **BETAS)),
    ("lrs", LRS, lambda a: adamw.run_adamw(QUAD.grad, X, a, **BETAS)),
    ("grad_fn", X, lambda a: adamw.run_adamw(lambda x: a, X, LRS, **BETAS)),
    ("lrs", LRS, lambda a: adamw.run_adam_l2(QUAD.grad, X, a, **BETAS)),
    ("grads", X, lambda a: bounds.adam_ratio_sequence(a, (0.5, 0.9))),
    ("v", np.ones(3), lambda a: bounds.ratio_sequence(X, a, (0.5, 0.9))),
    ("weights", LRS, lambda a: bounds.log_bound(SEQ, a)),
    ("weights", LRS, lambda a: bounds.log_coefficients(a, 0.9)),
    ("log_range", X ** 2, lambda a: bounds.nonincreasing_weights_excess((0.5, 0.9), 1.0, a)),
    ("growth", X + 2.0, lambda a: bounds.stationary_update_size(a, (0.9, 0.99))),
    ("grads", X, lambda a: bounds.replay_gradients(a)),
    ("v", np.ones(3), lambda a: bounds.folded_moment(a, 1e-8)),
    ("v_tilde", np.ones(3), lambda a: bounds.iterate_bound(a, (0.9, 0.99), 0.1, 1.0)),
    ("t", LRS, lambda a: bounds.iterate_bound_from_log_range((0.9, 0.99), 0.1, 1.0, a, 1.0)),
    ("log_range", LRS, lambda a: bounds.iterate_bound_from_log_range((0.9, 0.99), 0.1, 1.0, 3, a)),
    ("log_range", LRS, lambda a: bounds.asymptotic_iterate_bound((0.9, 0.99), 1e-3, 1.0, a)),
    ("hessian", np.eye(3), lambda a: problems.ConvexQuadratic(a, np.zeros(3))),
    ("center", X, lambda a: problems.ConvexQuadratic(np.eye(3), a)),
    ("x", X, lambda a: QUAD.loss(a)),
    ("x", X, lambda a: QUAD.grad(a)),
    ("x", X, lambda a: SEP.loss(a)),
    ("x", X, lambda a: LOGISTIC.grad(a)),
    ("target", X, lambda a: problems.SeparableQuadratic(a)),
    ("features", np.eye(3), lambda a: problems.LogisticRegression(a, np.ones(3))),
    ("matrix", np.eye(3), lambda a: problems.psd_smoothness(a, "linf")),
    ("xs", X, lambda a: problems.observed_smoothness(QUAD.grad, "l2", a, np.zeros(3))),
    ("x", X, lambda a: ROSEN.grad(a)),
    ("x", X, lambda a: NET.loss(a)),
    ("x", X, lambda a: nonconvex.check_gradient(ROSEN.loss, ROSEN.grad, a)),
    ("x", X, lambda a: PLATEAU.grad(a)),
    ("x", X, lambda a: PLATEAU.loss(a)),
    ("x0", X, lambda a: optim.run_torch_optimizer(QUAD.grad, a, LRS, **BETAS)),
    ("g", X, _torch_nsd_step),
]


@SETTINGS
@given(case=st.sampled_from(NON_FINITE_CASES), index=st.integers(0, 2**16),
       bad=st.sampled_from([math.nan, math.inf, -math.inf]))
def test_non_finite_entries_are_rejected(case, index, bad):
    name, good, call = case
    spoiled = np.array(good, dtype=float)
    spoiled.flat[index % spoiled.size] = bad
    with pytest.raises(ValueError, match=names(name)):
        call(spoiled)


#: (argument named in the message, the shape it must have, the call with that argument replaced)
SHAPE_CASES = [
    ("grad", (3,), lambda a: steepest.nsd_wd_step(X, a, 0.1, 1.0, "linf")),
    ("grad", (3,), lambda a: steepest.steepest_descent_step(X, a, 0.1, 0.0, "l2")),
    ("grad", (3,), lambda a: steepest.frank_wolfe_step(X, a, 0.5, 1.0, "l2")),
    ("grad", (3,), lambda a: steepest.run_nsd_wd(lambda x: a, X, LRS, weight_decay=1.0, norm="l2")),
    ("grad", (3,), lambda a: kkt.kkt_residual(X, a, 1.0, "l2")),
    ("grad", (3,), lambda a: kkt.frank_wolfe_gap(X, a, 1.0, "l2")),
    ("grad", (3,), lambda a: kkt.linf_kkt_diagnostic(X, a, 1.0)),
    ("v", (3,), lambda a: adamw.adam_direction(X, np.abs(a))),
    ("grad_fn", (3,), lambda a: adamw.run_adamw(lambda x: a, X, LRS, **BETAS)),
    ("v", (3, 3), lambda a: bounds.ratio_sequence(np.ones((3, 3)), 1.0 + np.abs(a), (0.5, 0.9))),
    ("weights", (3,), lambda a: bounds.averaged_bound(SEQ, a)),
    ("weights", (3,), lambda a: bounds.weighted_sum(SEQ, a)),
    ("x", (3,), lambda a: QUAD.grad(a)),
    ("x", (3,), lambda a: SEP.loss(a)),
    ("x", (3,), lambda a: LOGISTIC.loss(a)),
    ("x", (3,), lambda a: ROSEN.loss(a)),
    ("x", (3,), lambda a: NET.grad(a)),
    ("lrs", (3,), lambda a: kkt.averaged_direction(np.ones((3, 2)), 1.0 + np.abs(a))),
]

shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


@SETTINGS
@given(case=st.sampled_from(SHAPE_CASES), shape=shapes, seed=st.integers(0, 2**16))
def test_mismatched_shapes_are_rejected(case, shape, seed):
    name, required, call = case
    if shape == required or (name == "weights" and shape == (3, 3)):  # (T,) + shape is allowed too
        return
    with pytest.raises(ValueError, match=names(name)):
        call(np.random.default_rng(seed).uniform(0.5, 1.0, shape))


@pytest.mark.parametrize("call, name", [
    (lambda: LINF.random_point(np.random.default_rng(0), 3, math.nan), "radius"),
    (lambda: LINF.random_point(np.random.default_rng(0), 0, 1.0), "dim"),
    (lambda: steepest.frank_wolfe_lrs(math.inf, 3), "weight_decay"),
    (lambda: bounds.kappa((math.nan, 0.9)), "beta1"),
    (lambda: bounds.eps_averaged_bound(10, (0.9, 0.99), math.nan, 1e-8), "grad_bound"),
    (lambda: bounds.naive_bound(1.0, math.inf), "eps"),
    (lambda: counterexample.build_counterexample((0.9, 0.5), 1e-2, 1.0, math.nan, 10), "ratio"),
    (lambda: optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=math.nan), "lr"),
    (lambda: kkt.kkt_residual(X, X, 1.0, "l2", grad_scale=math.inf), "grad_scale"),
    (lambda: bounds.memory_term((0.9, math.nan)), "beta2"),
    (lambda: bounds.eps_log_range(1.0, math.nan), "eps"),
    (lambda: bounds.growth_constant((0.9, 0.99), math.nan, 1.0), "lr"),
    (lambda: problems.ConvexQuadratic.random(3, np.random.default_rng(0), condition=math.nan),
     "condition"),
    (lambda: problems.LogisticRegression(np.eye(2), np.array([1.0, math.nan])), "labels"),
    (lambda: problems.SeparableQuadratic(np.ones(2), np.array([1.0, math.inf])), "curvatures"),
    (lambda: counterexample.ratio_threshold((math.nan, 0.5)), "beta1"),
    (lambda: reference.constrained_minimum(QUAD, math.nan, "linf"), "radius"),
    (lambda: nonconvex.Rosenbrock(dim=3, b=math.inf), "b"),
    (lambda: nonconvex.Rosenbrock(dim=0), "dim"),
    (lambda: nonconvex.Rosenbrock(dim=2, a=math.nan), "a"),
    (lambda: nonconvex.TwoLayerNet.make(n_hidden=0), "n_hidden"),
    (lambda: counterexample.PlateauLoss(np.array([0.0, math.nan]), np.zeros(2)), "knots"),
    (lambda: counterexample.PlateauLoss(np.zeros(3), np.zeros(2)), "knots"),
])
def test_non_finite_scalars_are_rejected(call, name):
    with pytest.raises(ValueError, match=names(name)):
        call()


@pytest.mark.parametrize("call, name", [
    # the examples of issue 9, each of which used to return garbage silently
    (lambda: steepest.nsd_wd_step(np.ones(3), np.ones((3, 1)), 0.1, 1.0, "linf"), "grad"),
    (lambda: steepest.steepest_descent_step(np.ones(3), np.ones((3, 1)), 0.1, 0.0, "linf"), "grad"),
    (lambda: steepest.frank_wolfe_step(np.ones(3), np.ones((3, 1)), 0.1, 1.0, "linf"), "grad"),
    (lambda: steepest.nsd_wd_step(np.array([math.nan, 0.0]), np.ones(2), 0.1, 1.0, "linf"), "x"),
    (lambda: _torch_nsd_step(np.array([math.nan, 1.0, 1.0])), "g"),
    (lambda: bounds.iterate_bound(np.array([[1.0], [math.nan]]), (0.9, 0.99), 0.1, 1.0), "v_tilde"),
    (lambda: bounds.iterate_bound_from_log_range((0.9, 0.99), 0.1, 1.0, -5, 1.0), "t"),
    (lambda: bounds.iterate_bound_from_log_range((0.9, 0.99), 0.1, 1.0, 5, -1.0), "log_range"),
])
def test_the_silent_failures_of_issue_9_now_raise(call, name):
    with pytest.raises(ValueError, match=names(name)):
        call()
