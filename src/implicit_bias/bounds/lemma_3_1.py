r"""Lemma 3.1: the ball of radius :math:`c/\lambda` attracts the iterates of any bounded update
(notation: :mod:`implicit_bias.bounds`)."""

from __future__ import annotations

import numpy as np

from .. import validation

__all__ = ["ball_envelope"]


def ball_envelope(lr, weight_decay: float, x0_norm: float, *, steps=None,
                  update_bound: float = 1.0) -> np.ndarray:
    r"""Lemma 3.1 (``lem-3-1``, with the update bound :math:`c` of ``prop-bounded-update``): if
    :math:`x_t=(1-\lambda\eta_t)x_{t-1}-\eta_t\Delta_t` with :math:`\|\Delta_t\|\le c` and
    :math:`0\le\lambda\eta_t\le1`, then

    .. math::  \|x_t\|\ \le\ \frac c\lambda+\prod_{s=1}^{t}(1-\lambda\eta_s)
               \Big(\|x_0\|-\frac c\lambda\Big)_+ ,

    in any norm, for any updates (steepest, Adam, Lion, Muon, adversarial).  :math:`c=1` is
    NSD-WD and sign descent; AdamW uses :math:`c=M` (:func:`max_update_size`), torch's Muon
    :math:`c=s\,c_{\rm NS}`.

    Args:
        lr: a schedule :math:`(\eta_1,\dots,\eta_T)` (then the result has :math:`T+1` entries,
            :math:`t=0,\dots,T`), or one constant :math:`\eta` together with ``steps``.
        weight_decay: :math:`\lambda>0`.
        x0_norm: :math:`\|x_0\|\ge0`, in the norm the updates are bounded in.
        steps: the steps :math:`t\ge0` (int or array) for a constant ``lr``; the product is then
            :math:`q^t`, :math:`q=1-\lambda\eta`.
        update_bound: :math:`c\ge0`.

    Raises:
        ValueError: for :math:`\lambda\le0`, a negative or non-finite step size, a step with
            :math:`\lambda\eta_t>1` (the decay factor would flip signs), ``steps`` given with a
            schedule or missing with a constant.

    >>> ball_envelope([0.5, 0.5], 1.0, 3.0)              # (1 - 1/2)^t (3 - 1) + 1
    array([3. , 2. , 1.5])
    >>> float(ball_envelope(0.1, 2.0, 0.2, steps=7))     # starts inside: the radius 1/2
    0.5
    """
    weight_decay = validation.positive_finite("weight_decay", weight_decay, " (Lemma 3.1)")
    x0_norm = validation.nonneg_finite("x0_norm", x0_norm)
    update_bound = validation.nonneg_finite("update_bound", update_bound)
    radius = update_bound / weight_decay
    return radius + _decay_products(lr, weight_decay, steps) * max(x0_norm - radius, 0.0)


def _decay_products(lr, weight_decay: float, steps) -> np.ndarray:
    r""":math:`\prod_{s\le t}(1-\lambda\eta_s)` for a schedule, or :math:`q^t` for a constant."""
    lrs = validation.finite_array("lr", lr, nonneg=True)
    if lrs.ndim == 0:
        if steps is None:
            raise ValueError("steps is required with a constant lr: pass steps=t (int or array), "
                             "or pass lr as a schedule (eta_1, ..., eta_T)")
        q = validation.decay_factor(float(lrs), weight_decay)
        return q ** validation.finite_array("steps", steps, nonneg=True)
    if steps is not None:
        raise ValueError("steps must be None when lr is a schedule: the schedule's length is T")
    if lrs.ndim != 1:
        raise ValueError(f"lr must be a number or a 1-D schedule, got shape {lrs.shape}")
    if lrs.size:
        validation.decay_factor(float(lrs.max()), weight_decay)  # lambda * eta_t <= 1 for every t
    return np.concatenate([[1.0], np.cumprod(1.0 - weight_decay * lrs)])
