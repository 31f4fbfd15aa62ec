r"""Normalized steepest descent with weight decay (NSD-WD), Frank--Wolfe, and their runners.

The three update rules of the paper's Sections 2--3 (book chapters ``ch-steepest`` and
``ch-nsd-fw``), with :math:`g = \nabla L(x_{t-1})` and :math:`\Delta_t` the steepest direction of
Lemma 2.2:

* Eq. (1), NSD-WD:  :math:`x_t = (1-\lambda\eta_t)x_{t-1} - \eta_t\Delta_t`;
* Eq. (2), unnormalised steepest descent with decoupled weight decay:
  :math:`x_t = (1-\lambda\eta_t)x_{t-1} - \eta_t\|g\|_*\Delta_t`;
* Algorithm 2, Frank--Wolfe on :math:`\{\|x\|\le r\}`:
  :math:`s_t = \arg\min_{\|s\|\le r}\langle g, s\rangle`, :math:`x_t = (1-\gamma_t)x_{t-1}+\gamma_t s_t`.

Theorem 3.2: with :math:`r = 1/\lambda` and :math:`\gamma_t = \lambda\eta_t` the first and the third
coincide.

The three step functions take ``(x, grad, step, <decay or radius>, norm)`` in this order, and the
three runners share one signature, ``run_*(grad_fn, x0, lrs, *, ...)``: the number of steps is
``len(lrs)``, and they return a :class:`~implicit_bias.history.History`.
:func:`loss_curves` runs the six methods of the paper's Section 5.2 (its Figure 3).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import validation
from ._compat import deprecated_names
from .history import History, learning_rates
from .norms import get_norm

__all__ = [
    "nsd_wd_step",
    "steepest_descent_step",
    "frank_wolfe_step",
    "run_nsd_wd",
    "run_steepest_descent",
    "run_frank_wolfe",
    "frank_wolfe_lrs",
    "LOSS_CURVE_METHODS",
    "loss_curves",
]

GradFn = Callable[[np.ndarray], np.ndarray]


def nsd_wd_step(x, grad, lr: float, weight_decay: float, norm) -> np.ndarray:
    r"""One NSD-WD step, Eq. (1): :math:`x \leftarrow (1-\lambda\eta)x - \eta\Delta`.

    Args:
        x: current iterate :math:`x_{t-1}`.
        grad: :math:`\nabla L(x_{t-1})`, same shape as ``x``.
        lr: :math:`\eta_t \ge 0`.
        weight_decay: :math:`\lambda \ge 0`, with :math:`\lambda\eta_t \le 1`.
        norm: a name accepted by :func:`~implicit_bias.norms.get_norm` or an ``LpNorm``.

    Returns:
        the new iterate :math:`x_t` (a new array).

    >>> nsd_wd_step(np.array([1.0, -2.0]), np.array([3.0, 0.5]), 0.1, 1.0, "linf")
    array([ 0.8, -1.9])
    """
    decay = validation.decay_factor(lr, weight_decay)
    x, grad = validation.point_and_gradient(x, grad)
    # eq-1: x <- (1 - lr*wd) * x - lr * Delta
    return decay * x - float(lr) * get_norm(norm).steepest_direction(grad)


def steepest_descent_step(x, grad, lr: float, weight_decay: float, norm) -> np.ndarray:
    r"""One unnormalised steepest-descent step, Eq. (2):
    :math:`x \leftarrow (1-\lambda\eta)x - \eta\|g\|_*\Delta`.

    :math:`-\|g\|_*\Delta` minimises :math:`\langle g, d\rangle + \tfrac12\|d\|^2`; for ``l2`` this is
    gradient descent, for ``linf`` it is :math:`-\|g\|_1\operatorname{sign}(g)`.  Arguments as in
    :func:`nsd_wd_step` (``weight_decay=0`` is plain steepest descent).

    >>> steepest_descent_step(np.zeros(2), np.array([3.0, -1.0]), 0.5, 0.0, "linf")
    array([-2.,  2.])
    """
    decay = validation.decay_factor(lr, weight_decay)
    x, grad = validation.point_and_gradient(x, grad)
    norm = get_norm(norm)
    # eq-2: x <- (1 - lr*wd) * x - lr * ||g||_* Delta
    return decay * x - float(lr) * (norm.dual(grad) * norm.steepest_direction(grad))


def frank_wolfe_step(x, grad, step_size: float, radius: float, norm) -> np.ndarray:
    r"""One Frank--Wolfe step (Algorithm 2) on the ball :math:`\{\|x\|\le r\}`:
    :math:`x \leftarrow (1-\gamma)x + \gamma\,\mathrm{lmo}(g, r)`, with :math:`\gamma\in[0,1]`.

    >>> frank_wolfe_step(np.zeros(2), np.array([3.0, -1.0]), 0.5, 2.0, "linf")
    array([-1.,  1.])
    """
    step_size = validation.unit_interval("step_size", step_size, closed=True)
    radius = validation.nonneg_finite("radius", radius)
    x, grad = validation.point_and_gradient(x, grad)
    return (1.0 - step_size) * x + step_size * get_norm(norm).lmo(grad, radius)


def frank_wolfe_lrs(weight_decay: float, steps: int) -> np.ndarray:
    r"""The learning rates of Theorem 3.5, :math:`\eta_t = 2/(\lambda(t+1))`, :math:`t=1..T`
    (Frank--Wolfe step :math:`\gamma_t = \lambda\eta_t = 2/(t+1)`).

    >>> frank_wolfe_lrs(2.0, 3)
    array([0.5       , 0.33333333, 0.25      ])
    """
    weight_decay = validation.positive_finite("weight_decay", weight_decay)
    steps = validation.nonneg_int("steps", steps)
    return 2.0 / (weight_decay * (np.arange(1, steps + 1) + 1.0))


def _run(step: Callable[[np.ndarray, np.ndarray, float], np.ndarray], grad_fn: GradFn, x0,
         lrs, loss_fn: "Callable[[np.ndarray], float] | None", lrs_name: str = "lrs") -> History:
    lrs = learning_rates(lrs, lrs_name)
    x = validation.finite_array("x0", x0).copy()
    xs = np.empty((lrs.shape[0] + 1,) + x.shape)
    xs[0] = x
    for t, lr in enumerate(lrs, start=1):
        x = step(x, grad_fn(x), lr)
        xs[t] = x
    losses = np.array([loss_fn(x) for x in xs]) if loss_fn is not None else np.empty(0)
    return History(xs=xs, lrs=lrs, losses=losses)


def run_nsd_wd(grad_fn: GradFn, x0, lrs, *, weight_decay: float, norm, loss_fn=None) -> History:
    r"""Run NSD-WD (Eq. 1) with learning rates ``lrs`` (:math:`\eta_1..\eta_T`, one step each)."""
    norm = get_norm(norm)
    return _run(lambda x, g, lr: nsd_wd_step(x, g, lr, weight_decay, norm), grad_fn, x0, lrs,
                loss_fn)


def run_steepest_descent(grad_fn: GradFn, x0, lrs, *, weight_decay: float = 0.0, norm,
                         loss_fn=None) -> History:
    """Run unnormalised steepest descent (Eq. 2) with learning rates ``lrs``."""
    norm = get_norm(norm)
    return _run(lambda x, g, lr: steepest_descent_step(x, g, lr, weight_decay, norm), grad_fn, x0,
                lrs, loss_fn)


def run_frank_wolfe(grad_fn: GradFn, x0, step_sizes, *, radius: float, norm,
                    loss_fn=None) -> History:
    r"""Run Frank--Wolfe (Algorithm 2) with step sizes ``step_sizes`` (:math:`\gamma_t\in[0,1]`);
    the returned ``lrs`` field holds the :math:`\gamma_t`."""
    norm = get_norm(norm)
    return _run(lambda x, g, gamma: frank_wolfe_step(x, g, gamma, radius, norm), grad_fn, x0,
                step_sizes, loss_fn, "step_sizes")


#: The six methods of the paper's Section 5.2 (its Figure 3), in plotting order.
LOSS_CURVE_METHODS = ("sd-l2", "nsd-l2", "nsd-wd-l2", "sd-linf", "nsd-linf", "nsd-wd-linf")


def _loss_curve(problem, x0: np.ndarray, steps: int, method: str) -> np.ndarray:
    """L(x_t), t = 0..T, of one method of :data:`LOSS_CURVE_METHODS` (only losses are kept)."""
    kind, name = method.rsplit("-", 1)
    norm = get_norm(name)
    decay = 1.0 / norm.value(problem.target)  # the largest lambda that keeps the target feasible (||x*|| <= 1/lambda)
    if kind == "sd":  # eq-2, no decay, lr = 1/H
        lr_sd = 1.0 / problem.smoothness(name)
        step = lambda x, g, lr: steepest_descent_step(x, g, lr_sd, 0.0, norm)
    else:             # eq-1, lr = 2/(lambda (t+1)), decay lambda (nsd-wd) or 0 (nsd)
        weight_decay = decay if kind == "nsd-wd" else 0.0
        step = lambda x, g, lr: nsd_wd_step(x, g, lr, weight_decay, norm)
    x, losses = x0.copy(), np.empty(steps + 1)
    losses[0] = problem.loss(x)
    for t, lr in enumerate(frank_wolfe_lrs(decay, steps), start=1):
        x = step(x, problem.grad(x), lr)
        losses[t] = problem.loss(x)
    return losses


def loss_curves(problem, x0, steps: int, methods=LOSS_CURVE_METHODS) -> dict:
    r"""Loss curves :math:`L(x_t)`, :math:`t=0..T`, of the six methods of Section 5.2 from one ``x0``.

    For each norm :math:`\|\cdot\|\in\{\ell_2,\ell_\infty\}`, with :math:`H` the problem's smoothness
    and :math:`\lambda = 1/\|x^\star\|` (the largest decay that keeps the target feasible):

    * ``sd-<norm>``: Eq. 2 without decay, constant step :math:`1/H`:
      :math:`x_t = x_{t-1} - \tfrac1H\|g\|_*\Delta_t` (gradient descent for ``l2``,
      :math:`\|g\|_1\operatorname{sign}g/H` for ``linf``);
    * ``nsd-<norm>``: Eq. 1 without decay, :math:`\eta_t = 2/(\lambda(t+1))`;
    * ``nsd-wd-<norm>``: Eq. 1 with decay :math:`\lambda` and the same :math:`\eta_t` (Theorem 3.5).

    Only the losses are kept, so ``d = 10^4`` costs little memory.

    Args:
        problem: a :class:`~implicit_bias.problems.SeparableQuadratic` (its ``target`` defines
            :math:`\lambda`).
        x0: the common initialisation.
        steps: the horizon :math:`T`.
        methods: a subset of :data:`LOSS_CURVE_METHODS`.

    Returns:
        ``{method: array of shape (T + 1,)}``.
    """
    x0 = validation.finite_array("x0", x0, ndim=1)
    steps = validation.nonneg_int("steps", steps)
    for method in methods:
        if method not in LOSS_CURVE_METHODS:
            raise ValueError(f"method must be one of {LOSS_CURVE_METHODS}, got method={method!r}")
    return {method: _loss_curve(problem, x0, steps, method) for method in methods}


# Old names, kept for code written against earlier versions; they warn with a DeprecationWarning.
__getattr__ = deprecated_names(__name__, {"Trajectory": ("History", lambda: History)})
