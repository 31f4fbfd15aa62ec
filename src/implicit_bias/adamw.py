r"""AdamW (Algorithm 1) and Adam-ℓ2 in NumPy float64, for the book's small problems.

The PyTorch optimizers of :mod:`implicit_bias.optim` are for models; this module is for
deterministic vectors where we want the whole history (:math:`x_t, m_t, v_t, \Delta_t`) in float64.

Algorithm 1, with :math:`m_0 = v_0 = 0` unless given and :math:`g_t = \nabla L(x_{t-1})`
(plus :math:`\lambda x_{t-1}` for Adam-ℓ2):

.. math::

    m_t = \beta_1 m_{t-1} + (1-\beta_1)g_t,\quad v_t = \beta_2 v_{t-1} + (1-\beta_2)g_t^2,\quad
    \Delta_t = \frac{m_t}{\sqrt{v_t}+\epsilon}\ \ (0/0 := 0),

    \text{AdamW: } x_t = (1-\lambda\eta_t)x_{t-1} - \eta_t\Delta_t,\qquad
    \text{Adam-}\ell_2\text{: } x_t = x_{t-1} - \eta_t\Delta_t .

``bias_correction=True`` divides :math:`m_t, v_t` by :math:`1-\beta_1^t, 1-\beta_2^t` (PyTorch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["AdamHistory", "adam_direction", "run_adamw", "adam_moments"]


def _validate(betas, eps: float, weight_decay: float) -> tuple[float, float]:
    beta1, beta2 = (float(b) for b in betas)
    if not 0.0 <= beta1 < 1.0:
        raise ValueError(f"beta1 must lie in [0, 1), got beta1={beta1!r}")
    if not 0.0 <= beta2 < 1.0:
        raise ValueError(f"beta2 must lie in [0, 1), got beta2={beta2!r}")
    if not (0.0 <= eps < math.inf):
        raise ValueError(f"eps must be finite and >= 0, got eps={eps!r}")
    if not (0.0 <= weight_decay < math.inf):
        raise ValueError(f"weight_decay must be finite and >= 0, got weight_decay={weight_decay!r}")
    return beta1, beta2


def adam_direction(m: np.ndarray, v: np.ndarray, eps: float = 0.0) -> np.ndarray:
    r""":math:`\Delta = m/(\sqrt v + \epsilon)` with the convention :math:`0/0 := 0`."""
    denom = np.sqrt(v) + eps
    out = np.zeros(np.broadcast(m, denom).shape)
    np.divide(m, denom, out=out, where=denom > 0)
    return out


def adam_moments(grads: np.ndarray, betas, eps: float = 0.0, m0=0.0, v0=0.0):
    r"""Moments and directions of Adam for a *given* gradient sequence ``grads[t-1] = g_t``.

    Returns ``(m, v, delta)`` of shape ``(T,) + g.shape``, with ``m[t-1] = m_t`` etc.  Used by
    the bounds of Lemma 4.2, which hold for any gradient sequence.
    """
    beta1, beta2 = _validate(betas, eps, 0.0)
    grads = np.asarray(grads, dtype=float)
    m = np.empty_like(grads)
    v = np.empty_like(grads)
    m_prev = np.broadcast_to(np.asarray(m0, dtype=float), grads.shape[1:]).copy()
    v_prev = np.broadcast_to(np.asarray(v0, dtype=float), grads.shape[1:]).copy()
    for t, g in enumerate(grads):
        m_prev = beta1 * m_prev + (1.0 - beta1) * g
        v_prev = beta2 * v_prev + (1.0 - beta2) * g * g
        m[t], v[t] = m_prev, v_prev
    return m, v, adam_direction(m, v, eps)


@dataclass
class AdamHistory:
    """Whole history of a run: ``xs[t] = x_t`` (``t = 0..T``), ``ms/vs/deltas/grads[t-1]`` for
    step ``t`` (``t = 1..T``), and the learning rates ``lrs[t-1] = eta_t``."""

    xs: np.ndarray
    ms: np.ndarray
    vs: np.ndarray
    deltas: np.ndarray
    grads: np.ndarray
    lrs: np.ndarray

    @property
    def final(self) -> np.ndarray:
        return self.xs[-1]


def run_adamw(grad_fn: Callable[[np.ndarray], np.ndarray], x0, lrs, betas=(0.9, 0.999),
              eps: float = 0.0, weight_decay: float = 0.0, *, l2: bool = False,
              bias_correction: bool = False, m0=None, v0=None, record: bool = True) -> AdamHistory:
    r"""Run AdamW (``l2=False``) or Adam-ℓ2 (``l2=True``) for ``len(lrs)`` steps in float64.

    Args:
        grad_fn: :math:`x \mapsto \nabla L(x)`.
        x0: initial point.
        lrs: learning rates :math:`\eta_1, \dots, \eta_T` (a sequence or array).
        betas, eps, weight_decay: as in Algorithm 1 (:math:`\epsilon=0` means :math:`0/0 := 0`).
        l2: add :math:`\lambda x` to the gradient instead of decaying the weights.
        bias_correction: PyTorch's moment correction.
        m0, v0: initial moments (default 0), used by the Appendix B.3 constructions.
        record: keep the whole history (``False`` keeps only the first and last iterate).
    """
    beta1, beta2 = _validate(betas, eps, weight_decay)
    lrs = np.asarray(lrs, dtype=float)
    if np.any(lrs < 0) or not np.all(np.isfinite(lrs)):
        raise ValueError("lrs must be finite and >= 0")
    x = np.array(x0, dtype=float)
    m = np.zeros_like(x) if m0 is None else np.array(m0, dtype=float)
    v = np.zeros_like(x) if v0 is None else np.array(v0, dtype=float)
    steps = lrs.shape[0]
    n_rec = steps if record else 1
    xs = np.empty((n_rec + 1,) + x.shape)
    ms, vs, ds, gs = (np.empty((n_rec,) + x.shape) for _ in range(4))
    xs[0] = x
    for t in range(1, steps + 1):
        lr = lrs[t - 1]
        g = np.asarray(grad_fn(x), dtype=float)
        if l2:
            g = g + weight_decay * x
        m = beta1 * m + (1.0 - beta1) * g
        v = beta2 * v + (1.0 - beta2) * g * g
        if bias_correction:
            delta = adam_direction(m / (1.0 - beta1 ** t), v / (1.0 - beta2 ** t), eps)
        else:
            delta = adam_direction(m, v, eps)
        decay = 1.0 if l2 else 1.0 - lr * weight_decay
        x = decay * x - lr * delta
        k = t - 1 if record else 0
        ms[k], vs[k], ds[k], gs[k] = m, v, delta, g
        xs[k + 1] = x
    return AdamHistory(xs=xs, ms=ms, vs=vs, deltas=ds, grads=gs, lrs=lrs)
