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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from .norms import LpNorm, get_norm

__all__ = [
    "nsd_wd_step",
    "steepest_descent_step",
    "frank_wolfe_step",
    "Trajectory",
    "run_nsd_wd",
    "run_steepest_descent",
    "run_frank_wolfe",
    "constant_schedule",
    "frank_wolfe_schedule",
]

GradFn = Callable[[np.ndarray], np.ndarray]
Schedule = "Callable[[int], float] | Sequence[float]"


def _check_nonneg(name: str, value: float) -> float:
    value = float(value)
    if not (value >= 0.0 and math.isfinite(value)):
        raise ValueError(f"{name} must be finite and >= 0, got {name}={value!r}")
    return value


def _check_decay_product(lr: float, weight_decay: float) -> None:
    if lr * weight_decay > 1.0:
        raise ValueError(
            f"lr * weight_decay must be <= 1 (got lr={lr!r}, weight_decay={weight_decay!r}, "
            f"product {lr * weight_decay!r}): a larger step flips the sign of the decay factor"
        )


def nsd_wd_step(x, grad, lr: float, weight_decay: float, norm) -> np.ndarray:
    r"""One NSD-WD step, Eq. (1): :math:`x \leftarrow (1-\lambda\eta)x - \eta\Delta`.

    Args:
        x: current iterate :math:`x_{t-1}`.
        grad: :math:`\nabla L(x_{t-1})`.
        lr: :math:`\eta_t \ge 0`.
        weight_decay: :math:`\lambda \ge 0`, with :math:`\lambda\eta_t \le 1`.
        norm: a name accepted by :func:`~implicit_bias.norms.get_norm` or an ``LpNorm``.

    Returns:
        the new iterate :math:`x_t` (a new array).

    >>> nsd_wd_step(np.array([1.0, -2.0]), np.array([3.0, 0.5]), 0.1, 1.0, "linf")
    array([ 0.8, -1.9])
    """
    lr = _check_nonneg("lr", lr)
    weight_decay = _check_nonneg("weight_decay", weight_decay)
    _check_decay_product(lr, weight_decay)
    x = np.asarray(x, dtype=float)
    direction = get_norm(norm).steepest_direction(grad)
    # eq-1: x <- (1 - lr*wd) * x - lr * Delta
    return (1.0 - lr * weight_decay) * x - lr * direction


def steepest_descent_step(x, grad, lr: float, norm, weight_decay: float = 0.0) -> np.ndarray:
    r"""One unnormalised steepest-descent step, Eq. (2):
    :math:`x \leftarrow (1-\lambda\eta)x - \eta\|g\|_*\Delta`.

    :math:`-\|g\|_*\Delta` minimises :math:`\langle g, d\rangle + \tfrac12\|d\|^2`; for ``l2`` this is
    gradient descent, for ``linf`` it is :math:`-\|g\|_1\operatorname{sign}(g)`.
    """
    lr = _check_nonneg("lr", lr)
    weight_decay = _check_nonneg("weight_decay", weight_decay)
    _check_decay_product(lr, weight_decay)
    norm = get_norm(norm)
    x = np.asarray(x, dtype=float)
    direction = norm.dual(grad) * norm.steepest_direction(grad)
    # eq-2: x <- (1 - lr*wd) * x - lr * ||g||_* Delta
    return (1.0 - lr * weight_decay) * x - lr * direction


def frank_wolfe_step(x, grad, step_size: float, radius: float, norm) -> np.ndarray:
    r"""One Frank--Wolfe step (Algorithm 2) on the ball :math:`\{\|x\|\le r\}`:
    :math:`x \leftarrow (1-\gamma)x + \gamma\,\mathrm{lmo}(g, r)`, with :math:`\gamma\in[0,1]`.
    """
    step_size = float(step_size)
    if not (0.0 <= step_size <= 1.0):
        raise ValueError(f"step_size must lie in [0, 1], got step_size={step_size!r}")
    radius = _check_nonneg("radius", radius)
    x = np.asarray(x, dtype=float)
    vertex = get_norm(norm).lmo(grad, radius)
    return (1.0 - step_size) * x + step_size * vertex


@dataclass
class Trajectory:
    """Iterates of a run: ``xs[t]`` is :math:`x_t` (``xs[0] = x0``), ``lrs[t-1]`` is :math:`\\eta_t`.

    ``losses[t]`` is :math:`L(x_t)` when a loss function was given, else empty.
    """

    xs: np.ndarray
    lrs: np.ndarray
    losses: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def final(self) -> np.ndarray:
        return self.xs[-1]

    def norms(self, norm) -> np.ndarray:
        """:math:`\\|x_t\\|` along the run."""
        norm = get_norm(norm)
        return np.array([norm.value(x) for x in self.xs])


def constant_schedule(lr: float) -> Callable[[int], float]:
    """:math:`\\eta_t = \\text{lr}` for every step :math:`t \\ge 1`."""
    lr = _check_nonneg("lr", lr)
    return lambda t: lr


def frank_wolfe_schedule(weight_decay: float) -> Callable[[int], float]:
    r"""The schedule of Theorem 3.5, :math:`\eta_t = 2/(\lambda(t+1))`, :math:`t\ge1`
    (Frank--Wolfe step :math:`\gamma_t = \lambda\eta_t = 2/(t+1)`)."""
    weight_decay = float(weight_decay)
    if not weight_decay > 0.0:
        raise ValueError(f"weight_decay must be > 0, got weight_decay={weight_decay!r}")
    return lambda t: 2.0 / (weight_decay * (t + 1))


def _lr_sequence(schedule, steps: int) -> np.ndarray:
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got steps={steps!r}")
    if callable(schedule):
        lrs = np.array([schedule(t) for t in range(1, steps + 1)], dtype=float)
    else:
        lrs = np.asarray(list(schedule), dtype=float)
        if lrs.shape[0] < steps:
            raise ValueError(f"schedule has {lrs.shape[0]} learning rates, fewer than steps={steps}")
        lrs = lrs[:steps]
    return lrs


def _run(step: Callable[[np.ndarray, np.ndarray, float], np.ndarray], grad_fn: GradFn, x0,
         schedule, steps: int, loss_fn: "Callable[[np.ndarray], float] | None") -> Trajectory:
    lrs = _lr_sequence(schedule, steps)
    x = np.array(x0, dtype=float)
    xs = np.empty((steps + 1,) + x.shape)
    xs[0] = x
    for t in range(1, steps + 1):
        x = step(x, grad_fn(x), lrs[t - 1])
        xs[t] = x
    losses = np.array([loss_fn(x) for x in xs]) if loss_fn is not None else np.empty(0)
    return Trajectory(xs=xs, lrs=lrs, losses=losses)


def run_nsd_wd(grad_fn: GradFn, x0, schedule, steps: int, weight_decay: float, norm,
               loss_fn=None) -> Trajectory:
    """Run NSD-WD (Eq. 1) for ``steps`` steps; ``schedule`` is a callable ``t -> eta_t``
    (``t = 1, 2, ...``) or a sequence of learning rates."""
    norm = get_norm(norm)
    return _run(lambda x, g, lr: nsd_wd_step(x, g, lr, weight_decay, norm),
                grad_fn, x0, schedule, steps, loss_fn)


def run_steepest_descent(grad_fn: GradFn, x0, schedule, steps: int, norm,
                         weight_decay: float = 0.0, loss_fn=None) -> Trajectory:
    """Run unnormalised steepest descent (Eq. 2) for ``steps`` steps."""
    norm = get_norm(norm)
    return _run(lambda x, g, lr: steepest_descent_step(x, g, lr, norm, weight_decay),
                grad_fn, x0, schedule, steps, loss_fn)


def run_frank_wolfe(grad_fn: GradFn, x0, step_sizes, steps: int, radius: float, norm,
                    loss_fn=None) -> Trajectory:
    """Run Frank--Wolfe (Algorithm 2); ``step_sizes`` gives :math:`\\gamma_t` as a callable or a
    sequence.  The returned ``lrs`` field holds the step sizes :math:`\\gamma_t`."""
    norm = get_norm(norm)
    return _run(lambda x, g, gamma: frank_wolfe_step(x, g, gamma, radius, norm),
                grad_fn, x0, step_sizes, steps, loss_fn)
