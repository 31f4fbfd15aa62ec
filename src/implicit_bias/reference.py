r"""Independent reference optimum: :math:`\min L(x)` subject to :math:`\|x\|\le r`, solved by cvxpy.

The book grades its iterations against this solver, never against themselves (chapters
``ch-convex-rate`` and ``ch-synthetic``). The problems of :mod:`implicit_bias.problems` are written
with cvxpy atoms:

* quadratics :math:`\tfrac12(x-c)^\top A(x-c) = \tfrac12\|R(x-c)\|_2^2` with :math:`A = R^\top R`
  (``sum_squares`` of a symmetric square root, which avoids ``quad_form``'s PSD test on nearly
  singular matrices);
* logistic regression :math:`\tfrac1n\sum_i\log(1+e^{-m_i})` with the ``logistic`` atom (an
  exponential-cone program);

and the constraint with ``norm1``, ``norm`` (2) or ``norm_inf``. The default solver is Clarabel, an
interior-point method, run with tolerances of ``1e-10``.

>>> import numpy as np
>>> from implicit_bias.problems import ConvexQuadratic
>>> quad = ConvexQuadratic(np.eye(2), np.array([2.0, 0.5]))
>>> sol = constrained_minimum(quad, 1.0, "linf")
>>> np.round(sol.x, 6), round(sol.loss, 6)
(array([1. , 0.5]), 0.5)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from . import validation
from .kkt import frank_wolfe_gap
from .norms import get_norm
from .problems import ConvexQuadratic, LogisticRegression, SeparableQuadratic

__all__ = ["ConstrainedMinimum", "constrained_minimum", "cvxpy_loss", "SOLVER_TOLERANCE",
           "linear_minimizer", "steepest_descent_minimizer"]

#: Clarabel's feasibility and duality-gap tolerances (absolute and relative).
SOLVER_TOLERANCE = 1e-10


@dataclass(frozen=True)
class ConstrainedMinimum:
    r"""Result of :func:`constrained_minimum`. Fields:

    * ``x``: the minimiser :math:`\hat x` returned by the solver, rescaled onto the ball if the
      solver left it by round-off (so ``x`` is feasible);
    * ``loss``: the problem's own (numpy) loss at ``x``, an *upper* bound of the true constrained
      minimum :math:`L^\star`, since ``x`` is feasible;
    * ``fw_gap``: the Frank--Wolfe gap :math:`\langle\nabla L(\hat x),\hat x-s\rangle` with
      :math:`s=\arg\min_{\|s\|\le r}\langle\nabla L(\hat x),s\rangle`; by convexity
      :math:`L(\hat x)-L^\star\le` ``fw_gap``, a certificate of accuracy that uses only the
      solver's point;
    * ``lower_bound``: ``loss - fw_gap``, a certified lower bound of :math:`L^\star`;
    * ``solver_value``: the optimal value reported by the solver (agrees with ``loss`` to the
      solver's tolerance);
    * ``constraint_violation``: :math:`\max(0,\|x_{\rm solver}\|-r)` before rescaling, of the
      order of the tolerance;
    * ``status``: the solver status (always ``"optimal"``: anything else raises);
    * ``tolerance``: the gap/feasibility tolerance the solver met (``SOLVER_TOLERANCE`` or, after a
      stalled first attempt, 100 times it).
    """

    x: np.ndarray
    loss: float
    fw_gap: float
    lower_bound: float
    solver_value: float
    constraint_violation: float
    status: str
    tolerance: float


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(matrix)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def cvxpy_loss(problem, x):
    """The loss of ``problem`` as a cvxpy expression of the variable ``x``."""
    import cvxpy as cp

    if isinstance(problem, SeparableQuadratic):
        return 0.5 * cp.sum(cp.multiply(problem.curvatures, cp.square(x - problem.target)))
    if isinstance(problem, ConvexQuadratic):
        root = _symmetric_sqrt(problem.hessian)
        return 0.5 * cp.sum_squares(root @ (x - problem.center))
    if isinstance(problem, LogisticRegression):
        margins = cp.multiply(problem.labels, problem.features @ x)
        return cp.sum(cp.logistic(-margins)) / problem.features.shape[0]
    raise TypeError(f"no cvxpy form for problems of type {type(problem).__name__}")


def _norm_atom(norm, x):
    import cvxpy as cp

    name = get_norm(norm).name
    if name == "l1":
        return cp.norm1(x)
    if name == "l2":
        return cp.norm(x, 2)
    if name == "linf":
        return cp.norm_inf(x)
    raise ValueError(f"norm must be 'l1', 'l2' or 'linf', got norm={name!r}")


def constrained_minimum(problem, radius: float, norm, solver: str = "CLARABEL",
                        tolerance: float = SOLVER_TOLERANCE) -> ConstrainedMinimum:
    r"""Solve :math:`\min_x L(x)` s.t. :math:`\|x\|\le r` with cvxpy.

    Args:
        problem: a :class:`~implicit_bias.problems.ConvexQuadratic`,
            :class:`~implicit_bias.problems.LogisticRegression` or
            :class:`~implicit_bias.problems.SeparableQuadratic`.
        radius: :math:`r > 0`, e.g. :math:`1/\lambda` for NSD-WD with weight decay :math:`\lambda`.
        norm: ``"l1"``, ``"l2"`` or ``"linf"``.
        solver: a cvxpy solver name; Clarabel handles both the second-order and exponential cones.
        tolerance: the solver's feasibility and gap tolerances (Clarabel only); retried once at
            100 times this value if the solver stalls.

    Returns:
        a :class:`ConstrainedMinimum`.

    Raises:
        ValueError: if ``radius`` is not a positive finite number.
        RuntimeError: if the solver fails or ends with a status other than ``"optimal"`` even
            at the looser tolerance
            (the message names the status), so that a wrong :math:`L^\star` never reaches a check.
    """
    import cvxpy as cp

    radius = validation.positive_finite("radius", radius)
    x = cp.Variable(problem.dim)
    program = cp.Problem(cp.Minimize(cvxpy_loss(problem, x)), [_norm_atom(norm, x) <= radius])
    # Interior-point methods on exponential cones (logistic loss) can stall a little above a very
    # tight gap tolerance ("optimal_inaccurate"); we then retry once with a 100x looser tolerance
    # and record which one was met.
    for tol in (tolerance, 100.0 * tolerance):
        options = {}
        if solver.upper() == "CLARABEL":
            options = dict(tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol, tol_ktratio=tol,
                           max_iter=500)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "solution may be inaccurate"
                program.solve(solver=solver, **options)
        except cp.error.SolverError as err:
            raise RuntimeError(f"cvxpy solver {solver} failed (status {program.status!r}): "
                               f"{err}") from err
        if program.status == cp.OPTIMAL and x.value is not None:
            break
    else:
        raise RuntimeError(f"cvxpy solver {solver} did not reach an optimum: status "
                           f"{program.status!r} (tolerance {100.0 * tolerance:g})")
    norm = get_norm(norm)
    x_star = np.asarray(x.value, dtype=float)
    size = norm.value(x_star)
    violation = max(0.0, size - radius)
    if size > radius:  # round-off outside the ball: rescale so that `loss` is a feasible value
        x_star = x_star * (radius / size)
    grad = problem.grad(x_star)
    # <g, x - lmo(g, r)> = <g, x> + r ||g||_*: the gap of Lemma 3.8 with lambda = 1/r
    fw_gap = max(0.0, frank_wolfe_gap(x_star, grad, 1.0 / radius, norm))
    loss = problem.loss(x_star)
    return ConstrainedMinimum(x=x_star, loss=loss, fw_gap=fw_gap, lower_bound=loss - fw_gap,
                              solver_value=float(program.value), constraint_violation=violation,
                              status=program.status, tolerance=tol)


def _p_norm_atom(p: float, x):
    import cvxpy as cp

    if p == 1.0:
        return cp.norm1(x)
    if np.isinf(p):
        return cp.norm_inf(x)
    return cp.pnorm(x, p)


def _solve(program, variable) -> np.ndarray:
    import cvxpy as cp

    for tol in (SOLVER_TOLERANCE, 100.0 * SOLVER_TOLERANCE):  # retried once, as constrained_minimum
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            program.solve(solver="CLARABEL", tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol,
                          max_iter=500)
        if program.status == cp.OPTIMAL and variable.value is not None:
            return np.asarray(variable.value, dtype=float)
    raise RuntimeError(f"cvxpy did not reach an optimum: status {program.status!r}")


def linear_minimizer(grad, radius: float, norm) -> np.ndarray:
    r"""A minimiser of :math:`\langle g,s\rangle` over :math:`\|s\|_p\le r`, computed without
    :mod:`implicit_bias.norms`' closed forms: the independent oracle of Theorem 3.2's check.

    * :math:`\ell_1`: enumeration of the :math:`2d` vertices :math:`\pm re_i` (the first best one);
    * :math:`\ell_\infty`: the linear program :math:`\min g^\top s`, :math:`-r\le s_i\le r`
      (``scipy.optimize.linprog``, HiGHS, which returns a vertex);
    * :math:`1<p<\infty`: cvxpy (Clarabel, tolerance ``SOLVER_TOLERANCE``).

    >>> linear_minimizer(np.array([2.0, -0.5]), 1.0, "linf")
    array([-1.,  1.])
    """
    g = validation.finite_array("grad", grad, ndim=1)
    radius = validation.positive_finite("radius", radius)
    p = get_norm(norm).p
    if p == 1.0:
        vertices = np.concatenate([radius * np.eye(g.size), -radius * np.eye(g.size)])
        return vertices[int(np.argmin(vertices @ g))]
    if np.isinf(p):
        from scipy.optimize import linprog

        result = linprog(g, bounds=[(-radius, radius)] * g.size, method="highs")
        if not result.success:
            raise RuntimeError(f"linprog failed: {result.message}")
        return np.asarray(result.x, dtype=float)
    import cvxpy as cp

    s = cp.Variable(g.size)
    return _solve(cp.Problem(cp.Minimize(g @ s), [_p_norm_atom(p, s) <= radius]), s)


def steepest_descent_minimizer(grad, norm) -> np.ndarray:
    r"""A minimiser of :math:`\langle g,d\rangle+\tfrac12\|d\|_p^2` by cvxpy: the definition of the
    unnormalised steepest-descent step Eq. 2 (with :math:`\eta=1`, :math:`\lambda=0`), solved
    without :mod:`implicit_bias.norms`' closed forms.

    >>> np.round(steepest_descent_minimizer(np.array([3.0, 4.0]), "l2"), 6)
    array([-3., -4.])
    """
    import cvxpy as cp

    g = validation.finite_array("grad", grad, ndim=1)
    p = get_norm(norm).p
    d = cp.Variable(g.size)
    return _solve(cp.Problem(cp.Minimize(g @ d + 0.5 * cp.square(_p_norm_atom(p, d)))), d)
