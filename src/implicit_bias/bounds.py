r"""How large can Adam's updates be?  Lemma 4.2 and Lemma 4.3 as functions of *your* sequences.

Notation (book chapter ``ch-adam-bounds``).  :math:`0\le\beta_1\le\beta_2<1`,
:math:`\kappa=(\beta_2-\beta_1)/(1-\beta_2)`.  Sequences :math:`g_t` (:math:`t\ge1`) and
:math:`v_t` (:math:`t\ge0`) with :math:`v_0\ge0`, :math:`v_t>0` and the recursion *inequality*

.. math::  \iota_t := v_t-\beta_2v_{t-1}\ \ge\ (1-\beta_2)g_t^2 ,

:math:`|m_0|\le\sqrt{v_0}`, :math:`m_t=\beta_1m_{t-1}+(1-\beta_1)g_t` and :math:`\Delta_t=m_t/\sqrt{v_t}`.
Adam's own second moment has :math:`\iota_t=(1-\beta_2)g_t^2`; with :math:`\epsilon>0` the folded
moment :math:`\tilde v_t=(\sqrt{v_t}+\epsilon)^2` qualifies too (Remark 4.2.C) and then
:math:`\Delta_t=m_t/(\sqrt{v_t}+\epsilon)` is exactly Adam's update.

**Lemma 4.2** (derived form, see the chapter):

* (a) :math:`\Delta_t^2\le 1+\kappa\rho_t
  = \big[\beta_1^tv_0+\tfrac{1-\beta_1}{1-\beta_2}\sum_{s\le t}\beta_1^{t-s}\iota_s\big]/v_t`
  (:func:`pointwise_bound`; the right-hand form has no cancellation);
* (b) :math:`|\sum_ta_t\Delta_t|\le\sqrt{A_T}\sqrt{\sum_t|a_t|(1+\kappa\rho_t)}`,
  :math:`A_T=\sum_t|a_t|` (:func:`averaged_bound`);
* (4) :func:`log_bound`, with the coefficients :math:`c_s` of :func:`log_coefficients`:

  .. math::

      \Big|\sum_ta_t\Delta_t\Big|\le\sqrt{A_T}\,\Big(A_T+\kappa\Big(\sum_t|a_t|\beta_1^{t-1}
      +(1-\beta_1)\sum_sc_s\ln v_s\Big)\Big)^{1/2};

* Corollary 4.2′ (i)–(iii): :func:`log_range_bound`, :func:`nonincreasing_weights_bound`
  (its excess term :func:`nonincreasing_weights_excess`, with the memory term
  :func:`memory_term`), :func:`constant_weights_bound`.

**Largest single update**: :func:`max_update_size`
:math:`M_T^2=\frac{(1-\beta_1)^2}{1-\beta_2}\sum_{j<T}(\beta_1^2/\beta_2)^j\uparrow
\frac{(1-\beta_1)^2\beta_2}{(1-\beta_2)(\beta_2-\beta_1^2)}`, attained by
:func:`extremal_gradients` (book: ``prop-max-adam-update``).

**Geometric gradients**: :func:`stationary_update_size`, the update :math:`D(r)` of gradients
:math:`g_t\propto r^t` (also the limit of the Appendix B.3 counter-example).

**Lemma 4.3**: for AdamW with constant :math:`\eta`, :math:`q=1-\lambda\eta`,
:math:`|x_{t,i}-q^tx_{0,i}|\le\frac1\lambda\sqrt{(1-q^t)[1-q^t+\kappa\lambda\eta(S_t+\Pi_t\ln
\frac{V_t}{v^{\min}_t})]}` (:func:`iterate_bound`), and its large-:math:`t` form
:math:`\frac1\lambda\sqrt{1+K\ln(V/v^{\min})}` (:func:`asymptotic_iterate_bound`, :func:`growth_constant`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import validation
from ._compat import deprecated_names
from .adamw import adam_moments

__all__ = [
    "RatioSequence", "adam_ratio_sequence", "ratio_sequence", "kappa", "pointwise_bound",
    "averaged_bound", "log_coefficients", "log_bound", "log_range_bound", "memory_term",
    "folded_moment", "nonincreasing_weights_excess", "nonincreasing_weights_bound", "constant_weights_bound",
    "naive_bound", "eps_log_range", "eps_averaged_bound", "stationary_update_size",
    "max_update_size", "bias_correction_factor", "bias_corrected_update_size",
    "bias_correction_peak", "extremal_gradients",
    "growth_constant", "iterate_bound", "iterate_bound_from_log_range",
    "asymptotic_iterate_bound", "replay_gradients", "weighted_sum",
]


# ----------------------------------------------------------------------------- hyper-parameters
def _check_betas(betas) -> tuple[float, float]:
    return validation.betas(betas, ordered=True)


def kappa(betas) -> float:
    r""":math:`\kappa=(\beta_2-\beta_1)/(1-\beta_2)`, the excess factor of Lemma 4.2 (0 iff
    :math:`\beta_1=\beta_2`).

    >>> round(kappa((0.9, 0.999)), 9)
    99.0
    """
    beta1, beta2 = _check_betas(betas)
    return (beta2 - beta1) / (1.0 - beta2)


# ----------------------------------------------------------------------------- sequences
@dataclass(frozen=True)
class RatioSequence:
    r"""The data of Lemma 4.2 for one run: arrays of shape ``(T,) + shape`` (one row per step
    :math:`t=1..T`, any number of independent coordinates).

    Fields: ``betas`` :math:`=(\beta_1,\beta_2)`; ``v0`` :math:`=v_0` (broadcastable to one row);
    ``v[t-1]`` :math:`=v_t`; ``increments[t-1]`` :math:`=\iota_t=v_t-\beta_2v_{t-1}`, stored
    separately so that the bounds never subtract nearly equal numbers; ``delta[t-1]``
    :math:`=\Delta_t=m_t/\sqrt{v_t}`.
    """

    betas: tuple[float, float]
    v0: np.ndarray
    v: np.ndarray
    increments: np.ndarray
    delta: np.ndarray

    @property
    def steps(self) -> int:
        return self.v.shape[0]


def adam_ratio_sequence(grads, betas, eps: float = 0.0, m0=0.0, v0=0.0) -> RatioSequence:
    r"""Lemma 4.2's data for Adam's own moments of ``grads[t-1]`` :math:`=g_t`, with :math:`\epsilon`
    folded into :math:`v` (Remark 4.2.C): :math:`\tilde v_t=(\sqrt{v_t}+\epsilon)^2`,

    .. math::  \tilde v_t-\beta_2\tilde v_{t-1}=(1-\beta_2)g_t^2
               +2\epsilon(\sqrt{v_t}-\beta_2\sqrt{v_{t-1}})+(1-\beta_2)\epsilon^2 ,

    where the difference :math:`\sqrt{v_t}-\beta_2\sqrt{v_{t-1}}\ge0` is evaluated in the
    cancellation-free form

    .. math::  \frac{(1-\beta_2)g_t^2+\beta_2(1-\beta_2)v_{t-1}}{\sqrt{v_t}+\beta_2\sqrt{v_{t-1}}}.

    Raises:
        ValueError: if some :math:`\tilde v_t=0` (zero gradients from the start with
            :math:`\epsilon=0`); start the sequence at the first non-zero gradient instead.

    >>> adam_ratio_sequence([1.0, 1.0], (0.5, 0.5)).delta.round(4).tolist()  # m0 = v0 = 0
    [0.7071, 0.866]
    >>> adam_ratio_sequence([1.0, 1.0], (0.5, 0.5), m0=1.0, v0=1.0).delta.tolist()  # matched
    [1.0, 1.0]
    """
    beta1, beta2 = _check_betas(betas)
    eps = validation.nonneg_finite("eps", eps)
    grads = validation.finite_array("grads", grads, min_ndim=1)
    m, v, _ = adam_moments(grads, (beta1, beta2), 0.0, m0, v0)
    v0 = np.broadcast_to(validation.finite_array("v0", v0, nonneg=True), grads.shape[1:])
    if np.any(np.abs(np.asarray(m0, dtype=float)) > np.sqrt(v0) * (1 + 1e-12)):
        raise ValueError("Lemma 4.2 needs |m0| <= sqrt(v0)")
    root = np.sqrt(v)
    v_prev = np.concatenate([v0[None], v[:-1]])
    sq_increment = (1.0 - beta2) * grads ** 2
    num = sq_increment + beta2 * (1.0 - beta2) * v_prev
    den = root + beta2 * np.sqrt(v_prev)
    root_increment = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    increments = sq_increment + 2.0 * eps * root_increment + (1.0 - beta2) * eps ** 2
    v_tilde = folded_moment(v, eps)
    if np.any(v_tilde <= 0):
        raise ValueError("Lemma 4.2 needs v_t > 0 for t >= 1: the gradient sequence starts with "
                         "zeros and eps = 0; start it at the first non-zero gradient")
    return RatioSequence(betas=(beta1, beta2), v0=folded_moment(v0, eps), v=v_tilde,
                         increments=increments, delta=m / np.sqrt(v_tilde))


def folded_moment(v, eps: float) -> np.ndarray:
    r"""Remark 4.2.C: :math:`\tilde v=(\sqrt v+\epsilon)^2`, the second moment with :math:`\epsilon`
    folded in, so that :math:`m/\sqrt{\tilde v}` is Adam's update :math:`m/(\sqrt v+\epsilon)`.

    >>> float(folded_moment(4.0, 1.0))
    9.0
    """
    v = validation.finite_array("v", v, nonneg=True)
    return (np.sqrt(v) + validation.nonneg_finite("eps", eps)) ** 2


def ratio_sequence(grads, v, betas, m0=0.0, v0=0.0, rtol: float = 1e-12) -> RatioSequence:
    r"""Lemma 4.2's data for a *user-supplied* second-moment sequence ``v[t-1]`` :math:`=v_t`.

    Checks the hypotheses :math:`v_t>0`, :math:`v_t-\beta_2v_{t-1}\ge(1-\beta_2)g_t^2` (up to a
    relative ``rtol``) and :math:`|m_0|\le\sqrt{v_0}`, then computes :math:`m_t` and
    :math:`\Delta_t=m_t/\sqrt{v_t}`.  The increments are obtained by subtraction, so prefer
    :func:`adam_ratio_sequence` when :math:`v` is Adam's own moment.
    """
    beta1, beta2 = _check_betas(betas)
    grads = validation.finite_array("grads", grads, min_ndim=1)
    v = validation.finite_array("v", v)
    validation.same_shape(grads=grads, v=v)
    v0 = np.broadcast_to(validation.finite_array("v0", v0), grads.shape[1:])
    if np.any(v <= 0) or np.any(v0 < 0):
        raise ValueError("Lemma 4.2 needs v0 >= 0 and v_t > 0 for t >= 1")
    if np.any(np.abs(np.asarray(m0, dtype=float)) > np.sqrt(v0) * (1 + 1e-12)):
        raise ValueError("Lemma 4.2 needs |m0| <= sqrt(v0)")
    increments = v - beta2 * np.concatenate([v0[None], v[:-1]])
    if np.any(increments < (1.0 - beta2) * grads ** 2 - rtol * v):
        raise ValueError("v violates the recursion inequality v_t - beta2 v_{t-1} >= (1-beta2) g_t^2")
    m, _, _ = adam_moments(grads, (beta1, beta2), 0.0, m0, v0)
    return RatioSequence(betas=(beta1, beta2), v0=np.asarray(v0, dtype=float), v=v,
                         increments=np.maximum(increments, 0.0), delta=m / np.sqrt(v))


def _weights(seq: RatioSequence, weights) -> np.ndarray:
    """|a_t| broadcast to the shape of the sequence (``None`` means a_t = 1)."""
    return np.abs(_signed_weights(seq, weights))


def _signed_weights(seq: RatioSequence, weights) -> np.ndarray:
    """a_t, shape (T,) or (T,) + shape, reshaped to broadcast against the sequence."""
    a = np.ones(seq.steps) if weights is None else validation.finite_array("weights", weights,
                                                                             min_ndim=1)
    if a.shape != seq.v.shape[:a.ndim]:
        raise ValueError(f"weights must have one entry per step, shape {seq.v.shape[:1]} or "
                         f"{seq.v.shape}, got {a.shape}")
    return a.reshape(a.shape + (1,) * (seq.v.ndim - a.ndim))


def weighted_sum(seq: RatioSequence, weights=None) -> np.ndarray:
    r"""The left-hand side :math:`|\sum_ta_t\Delta_t|` of Lemma 4.2 (per coordinate)."""
    return np.abs(np.sum(_signed_weights(seq, weights) * seq.delta, axis=0))


# ----------------------------------------------------------------------------- Lemma 4.2
def pointwise_bound(seq: RatioSequence) -> np.ndarray:
    r"""Lemma 4.2(a): the bound :math:`1+\kappa\rho_t` on :math:`\Delta_t^2`, for every step.

    Evaluated as :math:`[\beta_1^tv_0+\frac{1-\beta_1}{1-\beta_2}U_t]/v_t` with
    :math:`U_t=\sum_{s\le t}\beta_1^{t-s}\iota_s` (all terms :math:`\ge0`): the textbook form
    :math:`1+\kappa\rho_t` subtracts numbers of size :math:`\kappa` and loses every digit when
    :math:`\Delta_t^2` is tiny.
    """
    beta1, beta2 = seq.betas
    accumulated = np.empty_like(seq.v)
    running = np.zeros(seq.v.shape[1:])
    for t in range(seq.steps):
        running = beta1 * running + seq.increments[t]
        accumulated[t] = running
    powers = beta1 ** np.arange(1, seq.steps + 1, dtype=float)
    powers = powers.reshape((-1,) + (1,) * (seq.v.ndim - 1))
    return (powers * seq.v0 + (1.0 - beta1) / (1.0 - beta2) * accumulated) / seq.v


def averaged_bound(seq: RatioSequence, weights=None) -> np.ndarray:
    r"""Lemma 4.2(b): :math:`\sqrt{A_T}\sqrt{A_T+\kappa\sum_t|a_t|\rho_t}
    =\sqrt{A_T\sum_t|a_t|(1+\kappa\rho_t)}`."""
    a = _weights(seq, weights)
    return np.sqrt(np.sum(a, axis=0) * np.sum(a * pointwise_bound(seq), axis=0))


def log_coefficients(weights, beta1: float) -> np.ndarray:
    r"""Corollary 4.2′: the coefficient :math:`c_s` of :math:`\ln v_s` in the double sum of (4),

    .. math::

        c_s=|a_s|\frac{1-\beta_1^{s-1}}{1-\beta_1}-\sum_{t=s+1}^T|a_t|\beta_1^{t-s-1},

        \sum_s c_s=0 .

    ``weights`` has shape ``(T,)`` or ``(T,) + shape``.

    >>> log_coefficients([1.0, 1.0, 1.0], 0.5).tolist()
    [-1.5, 0.0, 1.5]
    """
    a = np.abs(validation.finite_array("weights", weights, min_ndim=1))
    beta1 = validation.unit_interval("beta1", beta1)
    later = np.zeros_like(a)  # later[s-1] = sum_{t>s} |a_t| beta1^{t-s-1}
    for s in range(a.shape[0] - 2, -1, -1):
        later[s] = a[s + 1] + beta1 * later[s + 1]
    s = np.arange(1, a.shape[0] + 1, dtype=float).reshape((-1,) + (1,) * (a.ndim - 1))
    return a * (1.0 - beta1 ** (s - 1)) / (1.0 - beta1) - later


def _start_terms(seq: RatioSequence, a: np.ndarray) -> np.ndarray:
    """sum_t |a_t| beta1^(t-1): the price of starting from m_0, v_0 instead of a stationary state."""
    beta1 = seq.betas[0]
    powers = beta1 ** np.arange(seq.steps, dtype=float)
    return np.sum(a * powers.reshape((-1,) + (1,) * (a.ndim - 1)), axis=0)


def _times_kappa(kap: float, excess) -> np.ndarray:
    """kappa * excess, with 0 for kappa = 0 (beta1 = beta2), where 0 * inf would be nan."""
    excess = np.asarray(excess, dtype=float)
    return np.zeros_like(excess) if kap == 0.0 else kap * excess


def _root(a: np.ndarray, excess: np.ndarray) -> np.ndarray:
    """sqrt(A_T) sqrt(A_T + excess), A_T = sum_t |a_t|: the common form of all the bounds."""
    total = np.sum(a, axis=0)
    return np.sqrt(total * np.maximum(total + excess, 0.0))


def log_bound(seq: RatioSequence, weights=None) -> np.ndarray:
    r"""Lemma 4.2, bound (4):

    .. math::

        \sqrt{A_T}\,\Big(A_T+\kappa\Big(\sum_t|a_t|\beta_1^{t-1}
        +(1-\beta_1)\sum_t|a_t|\sum_{k<t}\beta_1^{k-1}\ln\frac{v_t}{v_{t-k}}\Big)\Big)^{1/2}.

    The double sum is computed as :math:`\sum_sc_s(\ln v_s-\ln v_{\min})` (equal, since
    :math:`\sum_sc_s=0`), which keeps the logarithms small.
    """
    a = _weights(seq, weights)
    beta1 = seq.betas[0]
    log_v = np.log(seq.v)
    c = log_coefficients(np.broadcast_to(a, seq.v.shape), beta1)
    double_sum = np.sum(c * (log_v - log_v.min(axis=0)), axis=0)
    excess = _start_terms(seq, a) + (1.0 - beta1) * double_sum
    return _root(a, _times_kappa(kappa(seq.betas), excess))


def log_range_bound(seq: RatioSequence, weights=None) -> np.ndarray:
    r"""Corollary 4.2′(i), any weights: the double sum replaced by
    :math:`P_T\ln(V_T/v^{\min}_T)`, :math:`P_T=\sum_s(c_s)_+`, :math:`V_T,v^{\min}_T` the
    largest and smallest :math:`v_t`, :math:`1\le t\le T`."""
    a = _weights(seq, weights)
    beta1 = seq.betas[0]
    positive_part = np.sum(np.maximum(log_coefficients(np.broadcast_to(a, seq.v.shape), beta1), 0),
                           axis=0)
    log_range = np.log(seq.v.max(axis=0) / seq.v.min(axis=0))
    return _root(a, _times_kappa(kappa(seq.betas),
                                 _start_terms(seq, a) + (1.0 - beta1) * positive_part * log_range))


def memory_term(betas) -> float:
    r"""The start-up term :math:`\frac{\beta_1\ln(1/\beta_2)}{1-\beta_1}` of Corollary 4.2′(ii)
    (0 for :math:`\beta_1=0`; needs :math:`\beta_2>0` otherwise).

    >>> round(memory_term((0.9, 0.999)), 6)
    0.009005
    """
    beta1, beta2 = _check_betas(betas)
    if beta1 == 0.0:
        return 0.0
    if beta2 == 0.0:
        raise ValueError("Corollary 4.2'(ii) needs beta2 > 0")
    # -log(beta2), not log(1/beta2): 1/beta2 can overflow for a tiny beta2
    return beta1 * -math.log(beta2) / (1.0 - beta1)


def nonincreasing_weights_excess(betas, lead_weight, log_range) -> np.ndarray:
    r"""The excess of Corollary 4.2′(ii), what is added to :math:`A_T` under the root:

    .. math:: \frac{\kappa|a_1|}{1-\beta_1}\Big(1+\ln\frac{V_T}{v_1}
              +\frac{\beta_1\ln(1/\beta_2)}{1-\beta_1}\Big),

    for the first weight ``lead_weight`` :math:`=a_1` and ``log_range`` :math:`=\ln(V_T/v_1)\ge0`
    (arrays broadcast).  Also the constant :math:`C_i` of Lemma 4.1 (chapter ``ch-adamw``).

    >>> float(nonincreasing_weights_excess((0.5, 0.5), 1.0, 0.0))
    0.0
    """
    beta1, _ = _check_betas(betas)
    lead = np.abs(validation.finite_array("lead_weight", lead_weight))
    log_range = validation.finite_array("log_range", log_range, nonneg=True)
    return _times_kappa(kappa(betas), lead / (1.0 - beta1) * (1.0 + log_range + memory_term(betas)))


def nonincreasing_weights_bound(seq: RatioSequence, weights=None) -> np.ndarray:
    r"""Corollary 4.2′(ii), :math:`|a_1|\ge|a_2|\ge\dots` and :math:`\beta_2>0`:

    .. math:: \sqrt{A_T}\sqrt{A_T+\frac{\kappa|a_1|}{1-\beta_1}\Big(1+\ln\frac{V_T}{v_1}
              +\frac{\beta_1\ln(1/\beta_2)}{1-\beta_1}\Big)} .

    Needs only an upper bound on :math:`v` (it survives :math:`v_t\to0`).
    """
    a = _weights(seq, weights)
    if np.any(np.diff(a, axis=0) > 0):
        raise ValueError("Corollary 4.2'(ii) needs non-increasing |weights|")
    if seq.betas[1] == 0.0:
        raise ValueError("Corollary 4.2'(ii) needs beta2 > 0")
    log_range = np.log(seq.v.max(axis=0) / seq.v[0])
    return _root(a, nonincreasing_weights_excess(seq.betas, a[0], log_range))


def constant_weights_bound(seq: RatioSequence, linearised: bool = False) -> np.ndarray:
    r"""Corollary 4.2′(iii), :math:`a_t\equiv1` and :math:`v` non-decreasing:
    :math:`\sum_t\Delta_t\le\sqrt{T(T+X)}\le T+X/2` with
    :math:`X=\frac{\kappa}{1-\beta_1}(1+\ln\frac{v_T}{v_1})`; ``linearised`` returns
    :math:`T+X/2`."""
    if np.any(np.diff(seq.v, axis=0) < 0):
        raise ValueError("Corollary 4.2'(iii) needs a non-decreasing v")
    steps = float(seq.steps)
    x = kappa(seq.betas) / (1.0 - seq.betas[0]) * (1.0 + np.log(seq.v[-1] / seq.v[0]))
    return steps + x / 2 if linearised else np.sqrt(steps * (steps + x))


# ----------------------------------------------------------------------------- epsilon
def naive_bound(grad_bound: float, eps: float) -> float:
    r"""The naive per-step bound :math:`|\Delta_t|\le G/\epsilon` (:math:`|m_t|\le G`,
    :math:`\sqrt{v_t}+\epsilon\ge\epsilon`), linear in :math:`1/\epsilon`."""
    return validation.nonneg_finite("grad_bound", grad_bound) / _positive_eps(eps)


def _positive_eps(eps) -> float:
    return validation.positive_finite("eps", eps)


def eps_log_range(grad_bound: float, eps: float) -> float:
    r""":math:`\ln(V_T/v^{\min}_T)\le2\ln(1+G/\epsilon)` for the folded moment with
    :math:`m_0=v_0=0` and :math:`|g_t|\le G` (:math:`\epsilon^2\le\tilde v_t\le(G+\epsilon)^2`)."""
    return 2.0 * math.log1p(validation.nonneg_finite("grad_bound", grad_bound) / _positive_eps(eps))


def eps_averaged_bound(steps: int, betas, grad_bound: float, eps: float) -> float:
    r"""A data-free bound on the *average* update :math:`|\frac1T\sum_{t\le T}\Delta_t|` of Adam
    with :math:`\epsilon>0`, :math:`m_0=v_0=0`, :math:`|g_t|\le G`: Corollary 4.2′(ii) with
    :math:`a_t=1` and :math:`\ln(V_T/v_1)\le2\ln(1+G/\epsilon)`,

    .. math:: \sqrt{1+\frac{\kappa}{T(1-\beta_1)}\Big(1+2\ln(1+G/\epsilon)
              +\frac{\beta_1\ln(1/\beta_2)}{1-\beta_1}\Big)} ,

    logarithmic in :math:`1/\epsilon` (the naive bound :func:`naive_bound` is linear).
    """
    steps = validation.positive_int("steps", steps)
    excess = nonincreasing_weights_excess(betas, 1.0, eps_log_range(grad_bound, eps))
    return math.sqrt(1.0 + float(excess) / steps)


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


# Old names, kept for code written against earlier versions; they warn with a DeprecationWarning.
__getattr__ = deprecated_names(__name__, {
    "stationary_ratio": ("stationary_update_size", lambda: stationary_update_size),
    "gradient_stream": ("replay_gradients", lambda: replay_gradients),
})
