r"""Appendix B.3: when :math:`\beta_1 > \beta_2`, AdamW can converge to a point outside the box.

Book chapter ``ch-adamw``.  Theorem 1.1 assumes :math:`\beta_1 \le \beta_2`.  This module builds the
counter-example (B) of the reconstructed notes: standard zero initial moments, :math:`\epsilon = 0`,
constant learning rate :math:`\eta` (non-increasing, :math:`\sum\eta=\infty`), and a convex
:math:`C^1` loss on :math:`\R` whose AdamW iterates increase to
:math:`x_\infty = D(r)/\lambda > 1/\lambda`.

**Key quantity.**  If the gradients decay geometrically, :math:`g_t \propto r^t`, the moments of a
self-similar state give the constant update

.. math::

    \frac{m_t}{\sqrt{v_t}} = \operatorname{sign}(g)\,D(r),

    D(r) = \frac{1-\beta_1}{r-\beta_1}\sqrt{\frac{r^2-\beta_2}{1-\beta_2}},

and for :math:`\beta_1>\beta_2`, :math:`D(r) > 1` exactly for
:math:`r\in(\max\{\beta_1,\sqrt{\beta_2},q_r\},1)` with
:math:`q_r = \frac{(1-\beta_1)^2\beta_2+(1-\beta_2)\beta_1^2}{(1-\beta_2)-(1-\beta_1)^2}`
(:func:`ratio_threshold`); :math:`D` is :func:`implicit_bias.bounds.stationary_update_size`.

**Construction (B)** (needs :math:`\beta_2 \le \beta_1^2` for the monotonicity proof).  Prescribe
:math:`g_t = -G r^{t-1}`.  From zero moments,
:math:`\Delta_t = -D(r)\,(1-(\beta_1/r)^t)/\sqrt{1-(\beta_2/r^2)^t}`, :math:`|\Delta_t|` is
non-decreasing, and :math:`x_t = (1-\lambda\eta)x_{t-1} - \eta\Delta_t` increases strictly to
:math:`D(r)/\lambda`.  A continuous non-decreasing :math:`L'` that equals :math:`g_t` on a small
plateau around each visited point :math:`x_{t-1}`, is linear in between, :math:`-G` left of the
first plateau and :math:`0` right of :math:`x_\infty`, defines a convex :math:`C^1` loss
:math:`L(x)=\int_0^x L'` (:class:`PlateauLoss`) on which AdamW reproduces the prescribed run.
The plateaus make the reproduction robust to rounding.

>>> from implicit_bias.bounds import stationary_update_size
>>> round(float(stationary_update_size(0.995, (0.99, 0.9))), 6)
1.89763
>>> ex = build_counterexample((0.99, 0.9), lr=1e-3, weight_decay=1.0, ratio=0.995, steps=200)
>>> bool(np.all(np.diff(ex.xs) > 0)), round(ex.limit, 6)
(True, 1.89763)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from . import validation
from .adamw import adam_moments
from .bounds import stationary_update_size

__all__ = ["ratio_threshold", "PlateauLoss", "Counterexample", "build_counterexample",
           "MatchedMoments", "matched_moment_construction", "same_momentum_streams",
           "start_to_meet"]


def ratio_threshold(betas) -> float:
    r"""The root :math:`q_r<1` of :math:`(1-\beta_1)^2(r^2-\beta_2)-(1-\beta_2)(r-\beta_1)^2` (the other
    root is 1); for :math:`\beta_1 > \beta_2`, :math:`D(r) > 1` on :math:`(\max\{\beta_1,\sqrt{\beta_2},q_r\}, 1)`.

    >>> ratio_threshold((0.99, 0.9)) < 0.995
    True
    """
    beta1, beta2 = validation.betas(betas)
    if not beta1 > beta2:
        raise ValueError(f"the counter-example needs beta1 > beta2, got beta1={beta1!r}, beta2={beta2!r}")
    return ((1 - beta1) ** 2 * beta2 + (1 - beta2) * beta1**2) / ((1 - beta2) - (1 - beta1) ** 2)


@dataclass(frozen=True)
class PlateauLoss:
    r"""A convex :math:`C^1` loss on :math:`\R` given by its derivative: piecewise linear through
    ``(knots, slopes)``, constant ``slopes[0]`` to the left and ``slopes[-1]`` to the right.

    :math:`L(x) = \int_0^x L'(s)\,ds`; convex because ``slopes`` is non-decreasing.
    """

    knots: np.ndarray
    slopes: np.ndarray

    def __post_init__(self) -> None:
        knots = validation.finite_array("knots", self.knots, ndim=1)
        slopes = validation.finite_array("slopes", self.slopes, ndim=1)
        validation.same_shape(knots=knots, slopes=slopes)
        if np.any(np.diff(knots) <= 0) or np.any(np.diff(slopes) < 0):
            raise ValueError("knots must increase and slopes must not decrease (a convex loss)")
        object.__setattr__(self, "knots", knots)  # frozen dataclass: the checked arrays
        object.__setattr__(self, "slopes", slopes)

    def grad(self, x) -> np.ndarray:
        """:math:`L'(x)` (``np.interp``, constant outside the knots)."""
        return np.interp(validation.finite_array("x", x), self.knots, self.slopes)

    def _antiderivative(self, x) -> np.ndarray:
        x = validation.finite_array("x", x)
        k, s = self.knots, self.slopes
        cum = np.concatenate([[0.0], np.cumsum(np.diff(k) * (s[1:] + s[:-1]) / 2)])
        idx = np.clip(np.searchsorted(k, x, side="right") - 1, 0, len(k) - 1)
        base = np.where(x < k[0], 0.0, cum[idx])
        start = np.where(x < k[0], k[0], k[idx])
        # integrate the linear piece from its left knot to x (trapezoid is exact for linear L')
        return base + (x - start) * (s[idx] + self.grad(x)) / 2

    def loss(self, x) -> np.ndarray:
        """:math:`L(x)=\\int_0^x L'`."""
        return self._antiderivative(x) - self._antiderivative(0.0)


@dataclass(frozen=True)
class Counterexample:
    """The prescribed run of construction (B) and the loss that reproduces it.

    ``xs[t] = x_t`` (t = 0..T), ``grads[t-1] = g_t``, ``deltas[t-1] = Delta_t``; ``limit`` is
    :math:`x_\\infty = D(r)/\\lambda`; ``half_widths[t]`` is the plateau half-width around ``xs[t]``.
    """

    loss: PlateauLoss
    xs: np.ndarray
    grads: np.ndarray
    deltas: np.ndarray
    half_widths: np.ndarray
    limit: float
    beta1: float
    beta2: float
    weight_decay: float
    lr: float
    ratio: float


def build_counterexample(betas, lr: float, weight_decay: float, ratio: float, steps: int,
                         grad_scale: float = 1.0, *, proved_regime: bool = True) -> Counterexample:
    r"""Construction (B): prescribed gradients :math:`g_t=-Gr^{t-1}`, zero moments, constant
    :math:`\eta`, :math:`x_0=0`, and the plateau loss that reproduces the run.

    Args:
        betas: :math:`(\beta_1,\beta_2)` with :math:`\beta_2 \le \beta_1^2 < \beta_1` (proved case).
        lr, weight_decay: :math:`\eta > 0`, :math:`\lambda > 0` with :math:`\lambda\eta \le 1`.
        ratio: :math:`r \in (\max\{\beta_1, q_r\}, 1)`, so that :math:`D(r) > 1`.
        steps: number :math:`T` of prescribed steps (plateaus); beyond them
            :math:`L' = 0` on :math:`[x_\infty,\infty)` and linear in between.
        grad_scale: :math:`G > 0`.
        proved_regime: if ``False``, also accept :math:`\beta_1^2<\beta_2<\beta_1`, where the
            monotonicity of :math:`|\Delta_t|` is not proved; the construction then stands or falls
            with the numerical check that the prescribed :math:`x_t` increase strictly below the limit.

    Raises:
        ValueError: if the parameters leave the proved regime, or (any regime) if the prescribed
            iterates are not strictly increasing below :math:`D(r)/\lambda` in float64.
    """
    beta1, beta2 = validation.betas(betas)
    if proved_regime and not beta2 <= beta1**2:
        raise ValueError(f"construction (B) needs beta2 <= beta1**2, got beta1={beta1!r}, beta2={beta2!r}")
    validation.positive_finite("weight_decay", weight_decay)
    validation.positive_finite("lr", lr)
    decay = validation.decay_factor(lr, weight_decay)
    steps = validation.positive_int("steps", steps)
    grad_scale = validation.positive_finite("grad_scale", grad_scale)
    ratio = validation.real("ratio", ratio)
    low = max(beta1, math.sqrt(beta2), ratio_threshold((beta1, beta2)))  # sqrt(beta2) <= beta1 if proved
    if not (low < ratio < 1.0):
        raise ValueError(f"ratio must lie in (max(beta1, sqrt(beta2), q_r), 1) = ({low!r}, 1), "
                         f"got ratio={ratio!r}")
    grads = -grad_scale * ratio ** np.arange(steps)
    _, _, deltas = adam_moments(grads, (beta1, beta2))
    # x_t = decay * x_{t-1} - lr * Delta_t, x_0 = 0  (a first-order linear filter)
    xs = np.concatenate([[0.0], lfilter([-lr], [1.0, -decay], deltas)])
    limit = float(stationary_update_size(ratio, (beta1, beta2))) / weight_decay
    visited = xs[:steps]                     # L' must equal g_t at x_{t-1}
    gaps = np.diff(np.concatenate([visited, [limit]]))
    if not np.all(gaps > 0):
        raise ValueError("the prescribed iterates are not strictly increasing below the limit")
    half = 0.25 * np.minimum(np.concatenate([[gaps[0]], gaps[:-1]]), gaps)
    knots = np.empty(2 * steps + 1)
    slopes = np.empty(2 * steps + 1)
    knots[0:-1:2], knots[1:-1:2] = visited - half, visited + half
    slopes[0:-1:2], slopes[1:-1:2] = grads, grads
    knots[-1], slopes[-1] = limit, 0.0
    return Counterexample(loss=PlateauLoss(knots, slopes), xs=xs, grads=grads, deltas=deltas,
                          half_widths=half, limit=float(limit), beta1=beta1, beta2=beta2,
                          weight_decay=float(weight_decay), lr=float(lr), ratio=float(ratio))


@dataclass(frozen=True)
class MatchedMoments:
    """Construction (A): the quadratic :math:`L(x)=(x-\\bar x)^2/2` and the initial moments that put
    AdamW in its self-similar state; ``closed_form(t)`` is the exact run :math:`x_t`."""

    center: float
    m0: float
    v0: float
    x0: float
    decay: float
    update_size: float

    def closed_form(self, t) -> np.ndarray:
        """:math:`x_t=\\bar x+q^t(x_0-\\bar x)`, the exact iterates of construction (A)."""
        return self.center + self.decay ** np.asarray(t, dtype=float) * (self.x0 - self.center)


def matched_moment_construction(betas, lr: float, weight_decay: float,
                                x0: float = 0.0) -> MatchedMoments:
    r"""Construction (A) (math notes §7; the paper's B.3 chooses the initial moments): with
    :math:`q=1-\lambda\eta\in(\max\{\beta_1,\sqrt{\beta_2},q_r\},1)`, :math:`\bar x=D(q)/\lambda`,
    :math:`g_0=(x_0-\bar x)/q`, :math:`m_0=\frac{(1-\beta_1)q}{q-\beta_1}g_0` and
    :math:`v_0=\frac{(1-\beta_2)q^2}{q^2-\beta_2}g_0^2`, AdamW (:math:`\epsilon=0`, constant
    :math:`\eta`) on :math:`(x-\bar x)^2/2` has :math:`\Delta_t=-D(q)` and
    :math:`x_t=\bar x+q^t(x_0-\bar x)\to D(q)/\lambda>1/\lambda` in exact arithmetic.  Note
    :math:`|m_0|/\sqrt{v_0}=D(q)>1`, outside Lemma 4.2's :math:`|m_0|\le\sqrt{v_0}`.

    >>> a = matched_moment_construction((0.99, 0.9), 1e-3, 1.0)
    >>> round(a.update_size, 4), round(abs(a.m0) / math.sqrt(a.v0), 4)
    (1.0999, 1.0999)
    """
    beta1, beta2 = validation.betas(betas)
    validation.positive_finite("weight_decay", weight_decay)
    q = validation.decay_factor(validation.positive_finite("lr", lr), weight_decay)
    x0 = validation.real("x0", x0)
    low = max(beta1, math.sqrt(beta2), ratio_threshold((beta1, beta2)))
    if not low < q < 1.0:
        raise ValueError(f"1 - lr * weight_decay must lie in ({low!r}, 1), got {q!r}")
    size = float(stationary_update_size(q, (beta1, beta2)))
    center = size / weight_decay
    if not x0 < center:
        raise ValueError(f"x0 must lie below the centre D(q)/lambda = {center!r}")
    g0 = (x0 - center) / q
    m0 = (1 - beta1) * q / (q - beta1) * g0
    v0 = (1 - beta2) * q * q / (q * q - beta2) * g0 * g0
    return MatchedMoments(center=center, m0=m0, v0=v0, x0=x0, decay=q, update_size=size)


# ----------------------------------------------------------------------------- Section 6

def same_momentum_streams(momentum: float, grads=(1.0, 0.2, 0.5), shift: float = 0.8) -> np.ndarray:
    r"""Section 6 (AdamW is not a Lion-K): two gradient streams of three steps,

    .. math::  A = (g_1,\ g_2,\ g_3),\qquad B = (g_1+\delta,\ g_2-\beta\delta,\ g_3),

    whose momenta :math:`m_2=\beta(1-\beta)g_1+(1-\beta)g_2` (from :math:`m_0=0`, coefficient
    :math:`\beta` = ``momentum``, the convention :math:`m_t=\beta m_{t-1}+(1-\beta)g_t` of Lion's
    and Adam's first moment) are equal and whose third gradients are equal, while their squares,
    hence Adam's :math:`v_2`, differ for :math:`\delta\ne0`. Returns an array of shape
    ``(2, 3)`` (streams A and B), for :func:`implicit_bias.bounds.replay_gradients`.

    >>> a, b = same_momentum_streams(0.5, grads=(1.0, 0.0, 1.0), shift=2.0)
    >>> b.tolist(), bool(0.5 * 0.5 * a[0] + 0.5 * a[1] == 0.5 * 0.5 * b[0] + 0.5 * b[1])
    ([3.0, -1.0, 1.0], True)
    """
    beta = validation.unit_interval("momentum", momentum)
    g = validation.finite_array("grads", grads, ndim=1)
    if g.shape != (3,):
        raise ValueError(f"grads must be three gradients (g1, g2, g3), got shape {g.shape}")
    delta = validation.finite("shift", shift)
    if delta == 0.0:
        raise ValueError("shift must be nonzero: shift = 0 gives two identical streams")
    return np.array([g, g + np.array([delta, -beta * delta, 0.0])])


def start_to_meet(run, streams: np.ndarray, decay: float) -> np.ndarray:
    r"""Starting points :math:`(x_0^A, x_0^B)` from which a method with decoupled decay and a
    gradient-only update reaches the same :math:`x_2` on both ``streams``.

    ``run(x0, grads)`` returns the iterates :math:`x_0, x_1, \dots` of the method fed ``grads``
    (its update must not depend on :math:`x`: AdamW and Lion fed a replayed stream). Then
    :math:`x_2 = q^2x_0 + c` with :math:`q=1-\lambda\eta` = ``decay`` and :math:`c` the same
    for every :math:`x_0`, so :math:`x_0^A=0`, :math:`x_0^B=(x_2^A(0)-x_2^B(0))/q^2`.
    """
    q = validation.positive_finite("decay", decay)
    x2 = [float(np.asarray(run(0.0, grads))[2]) for grads in streams]
    return np.array([0.0, (x2[0] - x2[1]) / q ** 2])
