r"""Lemma 4.2 and Corollary 4.2′: bounds on Adam's ratio :math:`\Delta_t=m_t/\sqrt{v_t}` for
given sequences, and the :math:`\epsilon`-dependent corollaries (notation: :mod:`implicit_bias.bounds`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import validation
from ..adamw import adam_moments

__all__ = [
    "kappa", "RatioSequence", "adam_ratio_sequence", "folded_moment", "ratio_sequence",
    "weighted_sum", "pointwise_bound", "averaged_bound", "log_coefficients", "log_bound",
    "log_range_bound", "memory_term", "nonincreasing_weights_excess",
    "nonincreasing_weights_bound", "constant_weights_bound", "naive_bound", "eps_log_range",
    "eps_averaged_bound",
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

