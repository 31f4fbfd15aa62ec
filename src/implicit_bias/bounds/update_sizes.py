r"""Update sizes: the stationary size :math:`D(r)` of geometric gradients, the largest single
update :math:`M_T` and its extremal gradients, and the bias-correction factor :math:`\theta_t`
of ``torch.optim.AdamW`` (notation: :mod:`implicit_bias.bounds`)."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .. import validation

__all__ = [
    "stationary_update_size", "max_update_size", "bias_correction_factor",
    "bias_corrected_update_size", "bias_correction_peak", "extremal_gradients",
    "replay_gradients",
]


# ----------------------------------------------------------------------------- geometric growth
def stationary_update_size(growth, betas) -> np.ndarray:
    r"""The self-similar update size :math:`D(r)=\frac{1-\beta_1}{r-\beta_1}\sqrt{\frac{r^2-\beta_2}{1-\beta_2}}`
    of gradients :math:`g_t\propto r^t` (:math:`r>\max(\beta_1,\sqrt{\beta_2})`):
    :math:`m_t/\sqrt{v_t}\to D(r)`.  :math:`D(e^\delta)=1+\frac{\kappa\delta}{1-\beta_1}+O(\delta^2)`:
    for growing gradients (:math:`r>1`) and :math:`\beta_1<\beta_2` the update exceeds 1; for
    decaying ones (:math:`r<1`) and :math:`\beta_1>\beta_2` too (Appendix B.3,
    :mod:`implicit_bias.counterexample`).  Any :math:`\beta_1,\beta_2\in[0,1)`.

    >>> round(float(stationary_update_size(1.0, (0.9, 0.999))), 12)
    1.0
    """
    beta1, beta2 = validation.betas(betas)
    r = validation.finite_array("growth", growth)
    if np.any(r <= max(beta1, math.sqrt(beta2))):
        raise ValueError(f"growth must exceed max(beta1, sqrt(beta2)) = "
                         f"{max(beta1, math.sqrt(beta2))!r}, got growth={growth!r}")
    return (1.0 - beta1) / (r - beta1) * np.sqrt((r * r - beta2) / (1.0 - beta2))


# ----------------------------------------------------------------------------- largest single update
def _memory_ratio(beta1: float, beta2: float) -> float:
    return 0.0 if beta1 == 0.0 else beta1 * beta1 / beta2


def _partial_geometric(r: float, steps) -> np.ndarray:
    r""":math:`\sum_{j<T}r^j` for an array of :math:`T\ge1` (any :math:`r\ge0`)."""
    steps = np.asarray(steps, dtype=float)
    if r == 0.0:
        return np.ones_like(steps)
    if r == 1.0:
        return steps
    return -np.expm1(steps * math.log(r)) / (1.0 - r)


def max_update_size(betas, steps=None) -> float:
    r"""The largest :math:`|\Delta_T|=|m_T|/\sqrt{v_T}` of Adam (:math:`\epsilon=0`) at step ``steps``
    :math:`=T` from zero moments, or its supremum over all :math:`T` (``steps=None``):

    .. math::  M_T^2=\frac{(1-\beta_1)^2}{1-\beta_2}\,\frac{1-r^T}{1-r},\qquad
               M^2=\frac{(1-\beta_1)^2\beta_2}{(1-\beta_2)(\beta_2-\beta_1^2)},
               \qquad r=\beta_1^2/\beta_2 .

    Cauchy–Schwarz on :math:`m_T=(1-\beta_1)\sum_s\beta_1^{T-s}g_s` against
    :math:`v_T=(1-\beta_2)\sum_s\beta_2^{T-s}g_s^2`; equality iff :math:`g_s\propto(\beta_2/\beta_1)^s`
    (:func:`extremal_gradients`).  No order of the betas is needed: :math:`M` is finite exactly
    when :math:`\beta_1^2<\beta_2` (so also for :math:`\beta_1^2<\beta_2<\beta_1`), and
    ``math.inf`` is returned for :math:`\beta_1^2\ge\beta_2`, where :math:`M_T` grows without
    bound.  :math:`M\ge1` bounds every update from any start with :math:`|m_0|\le\sqrt{v_0}`, and
    any :math:`\epsilon\ge0` only shrinks it.  For :math:`\beta_1\le\beta_2` it is at most
    Lemma 4.2(a)'s :math:`\sqrt{(1-\beta_1)/(1-\beta_2)}`, with equality iff :math:`\beta_1=0` or
    :math:`\beta_1=\beta_2`.  Book: ``prop-max-adam-update``.

    >>> round(max_update_size((0.9, 0.999)), 4), round(max_update_size((0.9, 0.999), 1), 4)
    (7.2703, 3.1623)
    >>> round(max_update_size((0.9, 0.85)), 4), max_update_size((0.9, 0.8))
    (1.1902, inf)
    """
    beta1, beta2 = validation.betas(betas)
    if beta2 == 0.0:
        raise ValueError("max_update_size needs beta2 > 0 (with beta2 = 0, v_T = g_T^2 forgets "
                         "the past and the ratio is unbounded unless beta1 = 0)")
    r = _memory_ratio(beta1, beta2)
    lead = (1.0 - beta1) ** 2 / (1.0 - beta2)
    if steps is None:
        return math.sqrt(lead / (1.0 - r)) if r < 1.0 else math.inf
    steps = validation.positive_int("steps", steps)
    return math.sqrt(lead * float(_partial_geometric(r, steps)))


def bias_correction_factor(betas, steps) -> np.ndarray:
    r""":math:`\theta_t=\sqrt{1-\beta_2^t}/(1-\beta_1^t)`, the factor that turns Algorithm 1's
    update :math:`m_t/\sqrt{v_t}` into ``torch.optim.AdamW``'s bias-corrected
    :math:`\hat m_t/\sqrt{\hat v_t}=\theta_t\,m_t/\sqrt{v_t}` (``rem-bias-correction``).  Below 1 the
    correction shrinks the update (the defaults: :math:`\theta_{300}\approx0.51`), above 1 it
    enlarges it (:math:`\beta_1=\beta_2`, or :math:`\theta_1=2.24` at (0.9, 0.95)).  ``steps`` :math:`t\ge1` (array).
    :math:`\theta_1=\sqrt{1-\beta_2}/(1-\beta_1)` (0.316 at the defaults), :math:`\theta_t\to1`.

    >>> round(float(bias_correction_factor((0.9, 0.999), 1)), 4)
    0.3162
    """
    beta1, beta2 = validation.betas(betas)
    t = validation.finite_array("steps", steps)
    if np.any(t < 1):
        raise ValueError(f"steps must be >= 1, got steps={steps!r}")
    return np.sqrt(-np.expm1(t * math.log(beta2)) if beta2 > 0 else np.ones_like(t)) / \
        (-np.expm1(t * math.log(beta1)) if beta1 > 0 else np.ones_like(t))


def _sup_over_steps(term: Callable[[np.ndarray], np.ndarray], limit: float, slowest: float) -> float:
    """sup over t >= 1 of term(t), for a term that tends to ``limit`` as slowest^t -> 0."""
    if slowest == 0.0:
        horizon = 2
    else:  # past this t, slowest^t < 1e-18: the term equals its limit to float64 precision
        horizon = int(math.ceil(math.log(1e-18) / math.log(slowest))) + 2
    best, start, chunk = limit, 1, 1 << 20
    while start <= horizon:
        t = np.arange(start, min(start + chunk, horizon + 1), dtype=float)
        best = max(best, float(np.max(term(t))))
        start += chunk
    return best


def bias_corrected_update_size(betas, steps=None) -> float:
    r"""The largest update of *bias-corrected* Adam (``torch.optim.AdamW``, :math:`\epsilon=0`, zero
    moments): :math:`\sup_{t\le T}\theta_tM_t` for ``steps`` :math:`=T`, or over all :math:`t`
    (``steps=None``), with :math:`\theta_t` of :func:`bias_correction_factor` and :math:`M_t` of
    :func:`max_update_size`.  The geometric stream of :func:`extremal_gradients` attains
    :math:`\theta_TM_T` at step :math:`T`, so the bound is sharp.  :math:`\theta_1M_1=1`,
    and :math:`\theta_tM_t=1` for all :math:`t` when :math:`\beta_1=\beta_2`; ``math.inf`` for
    :math:`\beta_1^2\ge\beta_2`.  With :math:`\epsilon>0` torch divides by
    :math:`\sqrt{\hat v_t}+\epsilon`, which only shrinks the update.

    >>> round(bias_corrected_update_size((0.9, 0.999)), 4), bias_corrected_update_size((0.9, 0.9))
    (7.2703, 1.0)
    """
    beta1, beta2 = validation.betas(betas)
    if beta1 == beta2:
        return 1.0  # theta_t^2 M_t^2 = (1 - beta^t)^2 / (1 - beta^t)^2: Cauchy-Schwarz with weights summing to 1 - beta^t
    limit = max_update_size((beta1, beta2))
    if not math.isfinite(limit):
        return math.inf
    r = _memory_ratio(beta1, beta2)
    lead = (1.0 - beta1) ** 2 / (1.0 - beta2)
    term = lambda t: bias_correction_factor((beta1, beta2), t) * np.sqrt(lead * _partial_geometric(r, t))
    if steps is not None:
        t = np.arange(1, validation.positive_int("steps", steps) + 1, dtype=float)
        return float(np.max(term(t)))
    return _sup_over_steps(term, limit, max(beta1, beta2, r))


def bias_correction_peak(betas) -> float:
    r""":math:`\sup_{t\ge1}\theta_t\ge1` (:func:`bias_correction_factor`): the most by which bias
    correction enlarges an update over Algorithm 1's, used to carry Lemma 4.3 over to
    ``torch.optim.AdamW``.  It is 1 (the limit) unless :math:`1-\beta_1^t<\sqrt{1-\beta_2^t}` at
    some :math:`t`, e.g. :math:`\beta=(0.5,0.6)`, where the first update is :math:`1.26` times larger.

    >>> bias_correction_peak((0.9, 0.999)), round(bias_correction_peak((0.5, 0.6)), 4)
    (1.0, 1.2649)
    """
    beta1, beta2 = validation.betas(betas)
    return _sup_over_steps(lambda t: bias_correction_factor((beta1, beta2), t), 1.0,
                           max(beta1, beta2))


def extremal_gradients(betas, steps: int) -> np.ndarray:
    r"""The gradient stream :math:`g_s=(\beta_1/\beta_2)^{T-s}`, :math:`s=1..T`, whose Adam update
    at step :math:`T` from zero moments is the largest possible, :func:`max_update_size`
    (``betas, steps``); a spike :math:`(0,\dots,0,1)` when :math:`\beta_1=0`.  Any betas.
    """
    beta1, beta2 = validation.betas(betas)
    steps = validation.positive_int("steps", steps)
    if beta2 == 0.0:
        return np.eye(1, steps, steps - 1)[0]
    return (beta1 / beta2) ** np.arange(steps - 1, -1, -1, dtype=float)


def replay_gradients(grads) -> Callable[[np.ndarray], np.ndarray]:
    """A ``grad_fn`` for :func:`implicit_bias.adamw.run_adamw` that ignores ``x`` and returns
    ``grads[0], grads[1], ...`` on successive calls (an arbitrary, e.g. adversarial, gradient stream)."""
    rows = iter(validation.finite_array("grads", grads, min_ndim=1))
    return lambda x: next(rows)

