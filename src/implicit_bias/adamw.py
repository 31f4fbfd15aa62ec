r"""The float64 *reference* AdamW (Algorithm 1) and Adam-ℓ2 in NumPy.

This is the implementation the PyTorch optimizers of :mod:`implicit_bias.optim` are tested
against (``tests/test_adamw.py``, ``tests/test_optim.py``): a plain loop in float64 that keeps the
whole history (:math:`x_t, m_t, v_t, \Delta_t, g_t`) of the book's small deterministic problems.
Use :mod:`implicit_bias.optim` for models.

Algorithm 1, with :math:`m_0 = v_0 = 0` unless given and :math:`g_t = \nabla L(x_{t-1})`
(plus :math:`\lambda x_{t-1}` for Adam-ℓ2):

.. math::

    m_t = \beta_1 m_{t-1} + (1-\beta_1)g_t,\quad v_t = \beta_2 v_{t-1} + (1-\beta_2)g_t^2,

    \Delta_t = \frac{m_t}{\sqrt{v_t}+\epsilon}\ \ (0/0 := 0),

    \text{AdamW: } x_t = (1-\lambda\eta_t)x_{t-1} - \eta_t\Delta_t,

    \text{Adam-}\ell_2\text{: } x_t = x_{t-1} - \eta_t\Delta_t .

``bias_correction=True`` divides :math:`m_t, v_t` by :math:`1-\beta_1^t, 1-\beta_2^t` (PyTorch).
The runners :func:`run_adamw` and :func:`run_adam_l2` share the signature of the other runners,
``run_*(grad_fn, x0, lrs, *, ...)``, and return a :class:`~implicit_bias.history.History`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import validation
from ._compat import deprecated_names
from .history import History, learning_rates

__all__ = ["adam_direction", "adam_moments", "run_adamw", "run_adam_l2"]


def _hyperparameters(betas, eps: float, weight_decay: float) -> tuple[float, float, float, float]:
    beta1, beta2 = validation.betas(betas)
    return (beta1, beta2, validation.nonneg_finite("eps", eps),
            validation.nonneg_finite("weight_decay", weight_decay))


def adam_direction(m: np.ndarray, v: np.ndarray, eps: float = 0.0) -> np.ndarray:
    r""":math:`\Delta = m/(\sqrt v + \epsilon)` with the convention :math:`0/0 := 0`.

    ``m`` and ``v`` have one shape, with finite entries and :math:`v\ge0`.

    >>> adam_direction(np.array([0.0, 1.0]), np.array([0.0, 4.0]))
    array([0. , 0.5])
    """
    m = validation.finite_array("m", m)
    v = validation.finite_array("v", v, nonneg=True)
    validation.same_shape(m=m, v=v)
    return _direction(m, v, validation.nonneg_finite("eps", eps))


def _direction(m: np.ndarray, v: np.ndarray, eps: float) -> np.ndarray:
    """m / (sqrt(v) + eps), 0/0 := 0, for checked arrays (the loops call it once per step)."""
    denom = np.sqrt(v) + eps
    out = np.zeros(m.shape)
    np.divide(m, denom, out=out, where=denom > 0)
    return out


def _moment_start(name: str, value, shape) -> np.ndarray:
    """An initial moment: a scalar or an array of one row's shape, broadcast to it."""
    value = validation.finite_array(name, value)
    if value.ndim and value.shape != tuple(shape):
        raise ValueError(f"{name} must be a scalar or have shape {tuple(shape)}, got {value.shape}")
    return np.broadcast_to(value, shape).copy()


def adam_moments(grads: np.ndarray, betas, eps: float = 0.0, m0=0.0, v0=0.0):
    r"""Moments and directions of Adam for a *given* gradient sequence ``grads[t-1] = g_t``.

    Returns ``(m, v, delta)`` of shape ``(T,) + g.shape``, with ``m[t-1] = m_t`` etc.  Used by
    the bounds of Lemma 4.2, which hold for any gradient sequence.
    """
    beta1, beta2, eps, _ = _hyperparameters(betas, eps, 0.0)
    grads = validation.finite_array("grads", grads, min_ndim=1)
    m = np.empty_like(grads)
    v = np.empty_like(grads)
    m_prev = _moment_start("m0", m0, grads.shape[1:])
    v_prev = _moment_start("v0", v0, grads.shape[1:])
    for t, g in enumerate(grads):
        m_prev = beta1 * m_prev + (1.0 - beta1) * g
        v_prev = beta2 * v_prev + (1.0 - beta2) * g * g
        m[t], v[t] = m_prev, v_prev
    return m, v, _direction(m, v, eps)


def _gradient(grad_fn, x: np.ndarray) -> np.ndarray:
    """grad_fn(x), checked: a gradient of another shape would broadcast into x silently."""
    g = validation.finite_array("grad_fn(x)", grad_fn(x))
    validation.same_shape(x=x, **{"grad_fn(x)": g})
    return g


def _run_adam(grad_fn: Callable[[np.ndarray], np.ndarray], x0, lrs, *, betas, eps: float,
              weight_decay: float, decoupled: bool, bias_correction: bool, m0, v0,
              record: bool) -> History:
    beta1, beta2, eps, weight_decay = _hyperparameters(betas, eps, weight_decay)
    lrs = learning_rates(lrs)
    x = validation.finite_array("x0", x0).copy()
    m = _moment_start("m0", 0.0 if m0 is None else m0, x.shape)
    v = _moment_start("v0", 0.0 if v0 is None else v0, x.shape)
    if decoupled:
        decays = [validation.decay_factor(lr, weight_decay) for lr in lrs]
    steps = lrs.shape[0]
    n_rec = steps if record else 1
    xs = np.empty((n_rec + 1,) + x.shape)
    ms, vs, ds, gs = (np.empty((n_rec,) + x.shape) for _ in range(4))
    xs[0] = x
    for t in range(1, steps + 1):
        g = _gradient(grad_fn, x)
        if not decoupled:  # Adam-l2: the regulariser's gradient enters the moments
            g = g + weight_decay * x
        m = beta1 * m + (1.0 - beta1) * g
        v = beta2 * v + (1.0 - beta2) * g * g
        if bias_correction:
            delta = _direction(m / (1.0 - beta1 ** t), v / (1.0 - beta2 ** t), eps)
        else:
            delta = _direction(m, v, eps)
        x = (decays[t - 1] if decoupled else 1.0) * x - lrs[t - 1] * delta
        k = t - 1 if record else 0
        ms[k], vs[k], ds[k], gs[k] = m, v, delta, g
        xs[k + 1] = x
    return History(xs=xs, lrs=lrs, grads=gs, ms=ms, vs=vs, deltas=ds)


def run_adamw(grad_fn: Callable[[np.ndarray], np.ndarray], x0, lrs, *, betas=(0.9, 0.999),
              eps: float = 0.0, weight_decay: float = 0.0, bias_correction: bool = False,
              m0=None, v0=None, record: bool = True) -> History:
    r"""The reference AdamW (Algorithm 1, decoupled weight decay) for ``len(lrs)`` steps in float64.

    Args:
        grad_fn: :math:`x \mapsto \nabla L(x)` (same shape as ``x``, finite).
        x0: initial point.
        lrs: learning rates :math:`\eta_1, \dots, \eta_T` (finite, :math:`\ge0`).
        betas, eps, weight_decay: as in Algorithm 1 (:math:`\epsilon=0` means :math:`0/0 := 0`),
            with :math:`\lambda\eta_t\le1`.
        bias_correction: PyTorch's moment correction.
        m0, v0: initial moments (default 0), used by the Appendix B.3 constructions.
        record: keep the whole history (``False`` keeps only the first and last iterate).

    Adam-ℓ2 (weight decay in the gradient) is :func:`run_adam_l2`.

    >>> run_adamw(lambda x: x - 2.0, np.zeros(1), [0.1, 0.1], betas=(0.0, 0.0), weight_decay=1.0).xs[:, 0]
    array([0.  , 0.1 , 0.19])
    """
    return _run_adam(grad_fn, x0, lrs, betas=betas, eps=eps, weight_decay=weight_decay,
                     decoupled=True, bias_correction=bias_correction, m0=m0, v0=v0,
                     record=record)


def run_adam_l2(grad_fn: Callable[[np.ndarray], np.ndarray], x0, lrs, *, betas=(0.9, 0.999),
                eps: float = 0.0, weight_decay: float = 0.0, bias_correction: bool = False,
                m0=None, v0=None, record: bool = True) -> History:
    r"""The reference Adam-ℓ2 (:class:`implicit_bias.optim.AdamL2`): the moments see
    :math:`g_t+\lambda x_{t-1}` and :math:`x_t = x_{t-1}-\eta_t\Delta_t`.  Arguments as in
    :func:`run_adamw` (here :math:`\lambda\eta` is not limited: nothing multiplies the weights)."""
    return _run_adam(grad_fn, x0, lrs, betas=betas, eps=eps, weight_decay=weight_decay,
                     decoupled=False, bias_correction=bias_correction, m0=m0, v0=v0,
                     record=record)


# Old names, kept for code written against earlier versions; they warn with a DeprecationWarning.
__getattr__ = deprecated_names(__name__, {"AdamHistory": ("History", lambda: History)})
