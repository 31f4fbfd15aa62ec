r"""Lemma 4.3: the iterate bound of AdamW with constant :math:`\eta` and :math:`\lambda`
(notation: :mod:`implicit_bias.bounds`)."""

from __future__ import annotations

import numpy as np

from .. import validation
from .lemma_4_2 import _check_betas, kappa

__all__ = ["growth_constant", "asymptotic_iterate_bound", "iterate_bound",
           "iterate_bound_from_log_range"]


# ----------------------------------------------------------------------------- Lemma 4.3
def _check_decay(lr: float, weight_decay: float) -> float:
    """q = 1 - lr * weight_decay for Lemma 4.3, which needs lr > 0 and weight_decay > 0."""
    validation.positive_finite("lr", lr, " (Lemma 4.3)")
    validation.positive_finite("weight_decay", weight_decay, " (Lemma 4.3)")
    return validation.decay_factor(lr, weight_decay)


def growth_constant(betas, lr: float, weight_decay: float) -> float:
    r""":math:`K=\frac{(\beta_2-\beta_1)\lambda\eta}{(1-\beta_2)(1-\beta_1-\lambda\eta)}`, the
    factor of :math:`\ln(V/v^{\min})` in the large-:math:`t` form of Lemma 4.3 (regime
    :math:`\lambda\eta<1-\beta_1`).  :math:`K\ll1` iff (essentially) :math:`1-\beta_2\gg\lambda\eta`.

    >>> round(growth_constant((0.9, 0.999), 1e-3, 1.0), 4)
    1.0
    """
    beta1, _ = _check_betas(betas)
    q = _check_decay(lr, weight_decay)
    kap = kappa(betas)
    if kap == 0.0:  # beta1 = beta2: no log term at all, whatever lr * weight_decay
        return 0.0
    if q <= beta1:
        raise ValueError("the large-t form needs lr * weight_decay < 1 - beta1")
    return kap * lr * weight_decay / (q - beta1)


def asymptotic_iterate_bound(betas, lr: float, weight_decay: float, log_range) -> np.ndarray:
    r"""Large-:math:`t` form of Lemma 4.3 (:math:`q^t\to0`): :math:`\frac1\lambda\sqrt{1+K\ln(V/v^{\min})}`."""
    k = growth_constant(betas, lr, weight_decay)
    log_range = validation.finite_array("log_range", log_range, nonneg=True)
    return np.sqrt(1.0 + k * log_range) / weight_decay


def iterate_bound(v_tilde, betas, lr: float, weight_decay: float) -> np.ndarray:
    r"""Lemma 4.3, bound (5): for AdamW (no bias correction, constant :math:`\eta`,
    :math:`m_0=v_0=0`, any :math:`\epsilon\ge0`) on *any* gradient stream,

    .. math::  |x_{t,i}-q^tx_{0,i}|\le\frac1\lambda\sqrt{(1-q^t)\Big[1-q^t+\kappa\lambda\eta
               \Big(S_t+\Pi_t\ln\frac{V_t}{v^{\min}_t}\Big)\Big]},

    :math:`q=1-\lambda\eta`, :math:`S_t=\sum_{s\le t}q^{t-s}\beta_1^{s-1}`,
    :math:`\Pi_t=\frac{1-q^t}{1-q}` (or :math:`\min\{\cdot,\frac{1-\beta_1^t}{q-\beta_1}\}` if
    :math:`q>\beta_1`), :math:`V_t, v^{\min}_t` the max and min of :math:`\tilde v_s`, :math:`s\le t`.

    A coordinate whose first gradients are exactly 0 (:math:`\tilde v=0`, no update) is handled by
    restarting the clock at its first non-zero :math:`\tilde v` (the bound is 0 before it).

    Args:
        v_tilde: ``(T,) + shape`` array of the folded moments :math:`(\sqrt{v_t}+\epsilon)^2`.
        betas, lr, weight_decay: :math:`(\beta_1,\beta_2)`, :math:`\eta`, :math:`\lambda`.

    Returns:
        the bound for every step and coordinate, same shape as ``v_tilde``.
    """
    beta1, _ = _check_betas(betas)
    q = _check_decay(lr, weight_decay)
    v_tilde = validation.finite_array("v_tilde", v_tilde, min_ndim=1, nonneg=True)
    active = v_tilde > 0
    started = np.logical_or.accumulate(active, axis=0)
    # t counted from each coordinate's first non-zero v~ (1 there), 0 before
    t = np.cumsum(started, axis=0).astype(float)
    masked = np.where(started, v_tilde, np.nan)
    log_range = np.log(np.fmax.accumulate(masked, axis=0) / np.fmin.accumulate(masked, axis=0))
    log_range = np.where(started, log_range, 0.0)
    return np.where(started, iterate_bound_from_log_range(betas, lr, weight_decay, t, log_range),
                    0.0)


def iterate_bound_from_log_range(betas, lr: float, weight_decay: float, t, log_range,
                                 x0_norm: float = 0.0) -> np.ndarray:
    r"""The right-hand side of bound (5) of Lemma 4.3 for given :math:`t` and
    :math:`\ln(V_t/v^{\min}_t)` (see :func:`iterate_bound`; arrays broadcast, :math:`t\ge0`),
    plus :math:`q^t\|x_0\|_\infty` when ``x0_norm`` is given: then it bounds
    :math:`\|x_t\|_\infty` itself.

    The bound increases with the log range, so the largest log range over coordinates bounds
    every coordinate.  For :math:`\beta_1=\beta_2` it is :math:`(1-q^t)/\lambda`.

    >>> round(float(iterate_bound_from_log_range((0.99, 0.99), 1e-2, 1.0, 400, 5.0)), 6)
    0.982049
    """
    beta1, _ = _check_betas(betas)
    q = _check_decay(lr, weight_decay)
    t = validation.finite_array("t", t, nonneg=True)
    log_range = validation.finite_array("log_range", log_range, nonneg=True)
    qt = q ** t
    if abs(q - beta1) > 1e-12:
        start_sum = (qt - beta1 ** t) / (q - beta1)
    else:  # q == beta1: sum_s q^{t-s} q^{s-1} = t q^{t-1}
        start_sum = t * q ** np.maximum(t - 1, 0)
    horizon = (1.0 - qt) / (1.0 - q) if q < 1.0 else t
    if q > beta1:
        horizon = np.minimum(horizon, (1.0 - beta1 ** t) / (q - beta1))
    kap = kappa(betas)
    excess = 0.0 if kap == 0.0 else kap * lr * weight_decay * (start_sum + horizon * log_range)
    inner = (1.0 - qt) * (1.0 - qt + excess)
    x0_norm = validation.nonneg_finite("x0_norm", x0_norm)
    return qt * x0_norm + np.sqrt(np.maximum(inner, 0.0)) / weight_decay

