r"""KKT conditions of the norm-constrained problem, as residuals that can be measured along a run.

The problem of the paper's Section 3.2 (book chapter ``ch-kkt``) is

.. math::  \min_{x} L(x) \quad\text{subject to}\quad \|x\| \le 1/\lambda .

Definition 3.6 (``def-3-6``) calls :math:`x` a KKT point if some :math:`\mu \ge 0` gives
:math:`\|x\|\le 1/\lambda`, :math:`-\nabla L(x) \in \mu\,\partial\|x\|` and
:math:`\mu(\|x\|-1/\lambda)=0`.  Lemma 3.8 (``lem-3-8``) turns this into two scalar conditions on
:math:`g = \nabla L(x)`,

.. math::  \lambda\|x\| \le 1 \qquad\text{and}\qquad \langle -\lambda x, g\rangle = \|g\|_* ,

i.e. :math:`-\lambda x \in \partial\|g\|_*`.  By Hölder, :math:`\langle -\lambda x, g\rangle \le
\lambda\|x\|\,\|g\|_* \le \|g\|_*` for feasible :math:`x`, so only the inequality
:math:`\langle -\lambda x, g\rangle \ge \|g\|_*` has to be measured.  This module measures it in
three ways:

* :func:`kkt_residual`, scale-free in :math:`g`:

  .. math::

      r(x) = \frac{\big(\|g\|_* - \langle -\lambda x, g\rangle\big)_+}{\|g\|_* + s}
             + \big(\lambda\|x\| - 1\big)_+ ,

      0/0 := 0,

  with ``grad_scale`` :math:`s \ge 0` (default 0).  :math:`r(x) = 0` exactly at KKT points and
  :math:`r(x) > 0` elsewhere (proof in the docstring).  With :math:`s=0` it does not change when
  :math:`g` is multiplied by :math:`\alpha>0`, and its first term lies in :math:`[0, 2]` on the
  feasible set.  The price of scale-freeness is a jump at :math:`g = 0`: near an *interior*
  stationary point the direction of :math:`g` is arbitrary, so use :math:`s > 0` (a typical
  gradient size) when the limit may be interior.
* :func:`frank_wolfe_gap`, the gap :math:`G(x)=\max_{\|s\|\le1/\lambda}\langle g, x-s\rangle =
  \langle g, x\rangle + \|g\|_*/\lambda` of Lemma 3.8; on the feasible set :math:`G \ge 0`, it is 0
  exactly at KKT points and bounds :math:`L(x)-\min L` for convex :math:`L`.
* :func:`linf_kkt_diagnostic`, coordinate by coordinate for :math:`\ell_\infty`, where the
  condition splits into :math:`|g_i| + \lambda x_i g_i = 0` for every :math:`i`: either
  :math:`g_i = 0`, or :math:`x_i = -\operatorname{sign}(g_i)/\lambda` sits on the face of the box
  that the gradient pushes against.

Example:

>>> import numpy as np
>>> x, g = np.array([-0.5, 0.2]), np.array([3.0, 0.0])     # lambda = 2: x_1 on the face, g_2 = 0
>>> kkt_residual(x, g, weight_decay=2.0, norm="linf")
0.0
>>> kkt_residual(np.array([0.5, 0.2]), g, weight_decay=2.0, norm="linf")  # wrong face
2.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import validation
from .norms import get_norm

__all__ = ["kkt_residual", "frank_wolfe_gap", "frank_wolfe_gap_bound", "LinfKKTDiagnostic",
           "linf_kkt_diagnostic",
           "kkt_residual_path", "averaged_direction"]


def _check_weight_decay(weight_decay: float) -> float:
    return validation.positive_finite("weight_decay", weight_decay,
                                      " (the constraint radius is 1/weight_decay)")


def kkt_residual(x, grad, weight_decay: float, norm, grad_scale: float = 0.0) -> float:
    r"""Scale-free KKT residual of :math:`\min_{\|x\|\le1/\lambda}L(x)` (Lemma 3.8, ``lem-3-8``).

    .. math::

        r(x) = \frac{\big(\|g\|_* - \langle -\lambda x, g\rangle\big)_+}{\|g\|_* + s}
               + \big(\lambda\|x\| - 1\big)_+ ,

        g=\nabla L(x),\ 0/0 := 0 .

    *Zero exactly at KKT points.*  If :math:`r=0` then :math:`\lambda\|x\|\le1` and
    :math:`\langle-\lambda x,g\rangle\ge\|g\|_*`; Hölder gives the reverse inequality, so
    :math:`\langle-\lambda x,g\rangle=\|g\|_*`, which with feasibility is Lemma 3.8's
    characterisation.  Conversely both terms vanish at a KKT point.  (The positive part in the
    first term matters only for infeasible :math:`x`, where the inner product may exceed
    :math:`\|g\|_*`.)

    Args:
        x: the point.
        grad: :math:`\nabla L(x)`, same shape as ``x``.
        weight_decay: :math:`\lambda > 0`.
        norm: the constraint norm (name, exponent or ``LpNorm``); the dual norm is used for ``grad``.
        grad_scale: :math:`s \ge 0`.  ``0`` (default) makes :math:`r` invariant under
            :math:`g \mapsto \alpha g`, :math:`\alpha > 0`; a positive value makes :math:`r`
            continuous at :math:`g = 0` (use it when the limit may be an interior stationary point).

    Returns:
        :math:`r(x) \ge 0`.

    Raises:
        ValueError: if ``weight_decay <= 0`` or not finite, ``grad_scale < 0``, or shapes differ.

    >>> kkt_residual([1.0, 0.0], [-1.0, 0.0], 1.0, "l2")              # on the sphere, g = -x
    0.0
    >>> kkt_residual([0.5, 0.0], [-1.0, 0.0], 1.0, "l2")              # interior, g != 0
    0.5
    >>> kkt_residual([0.5, 0.0], [-1000.0, 0.0], 1.0, "l2")           # scale-free in g
    0.5
    """
    weight_decay = _check_weight_decay(weight_decay)
    grad_scale = validation.nonneg_finite("grad_scale", grad_scale)
    x, grad = validation.point_and_gradient(x, grad)
    norm = get_norm(norm)
    dual = norm.dual(grad)
    # Lemma 3.8: KKT <=> ||g||_* = <-lambda x, g> (and feasibility); the gap is >= 0 when feasible.
    gap = max(dual - float(np.vdot(-weight_decay * x, grad)), 0.0)
    denom = dual + grad_scale
    complementarity = gap / denom if denom > 0.0 else 0.0
    infeasibility = max(weight_decay * norm.value(x) - 1.0, 0.0)
    return float(complementarity + infeasibility)


def frank_wolfe_gap(x, grad, weight_decay: float, norm) -> float:
    r"""The Frank--Wolfe gap of Lemma 3.8 on the ball :math:`\{\|s\|\le 1/\lambda\}`:

    .. math::

        G(x) = \max_{\|s\|\le1/\lambda}\langle g, x - s\rangle
             = \langle g, x\rangle + \frac{\|g\|_*}{\lambda}
             = \frac{\|g\|_* - \langle -\lambda x, g\rangle}{\lambda}.

    For feasible :math:`x`, :math:`G(x)\ge0`, with equality exactly at KKT points, and
    :math:`L(x) - \min_{\|x'\|\le1/\lambda} L(x') \le G(x)` when :math:`L` is convex.  Unlike
    :func:`kkt_residual` it scales with :math:`g` (it is in units of :math:`L`).

    The certificate of :func:`implicit_bias.reference.constrained_minimum` is this gap with
    :math:`\lambda = 1/r`.

    >>> frank_wolfe_gap([0.0, 0.0], [3.0, -4.0], 2.0, "l2")   # ||g||_2 / lambda
    2.5
    """
    weight_decay = _check_weight_decay(weight_decay)
    x, grad = validation.point_and_gradient(x, grad)
    return float(np.vdot(grad, x) + get_norm(norm).dual(grad) / weight_decay)


def frank_wolfe_gap_bound(initial_gap: float, smoothness: float, weight_decay: float,
                          steps: int) -> float:
    r"""The non-asymptotic rate of Frank--Wolfe with the constant step :math:`\gamma=1/\sqrt{T+1}`
    on the ball of radius :math:`r=1/\lambda` (book chapter ``ch-kkt``, our form of
    Lacoste-Julien's 2016 theorem):

    .. math::  \min_{0\le t\le T} G(x_t) \le \frac{G(x_0) + H D^2}{\sqrt{T+1}},\qquad D = 2r,

    for an :math:`L` with :math:`H`-Lipschitz gradient on the ball (w.r.t. the norm and its dual,
    convex or not), :math:`x_0` in the ball and :math:`G` the gap of :func:`frank_wolfe_gap`.
    By Theorem 3.2 it is also the rate of NSD-WD with :math:`\eta=\gamma/\lambda`.

    >>> frank_wolfe_gap_bound(1.0, 2.0, 1.0, 3)  # (1 + 2 * 2**2) / 2
    4.5
    """
    g0 = validation.nonneg_finite("initial_gap", initial_gap)
    h = validation.nonneg_finite("smoothness", smoothness)
    diameter = 2.0 / _check_weight_decay(weight_decay)
    return (g0 + h * diameter ** 2) / float(np.sqrt(validation.nonneg_int("steps", steps) + 1))


@dataclass(frozen=True)
class LinfKKTDiagnostic:
    r"""Per-coordinate KKT check for the box :math:`\|x\|_\infty \le 1/\lambda`.

    Attributes:
        slack: :math:`|g_i| + \lambda x_i g_i = |g_i|\,(1 + \lambda x_i\operatorname{sign} g_i)`;
            zero iff :math:`g_i = 0` or :math:`\lambda x_i = -\operatorname{sign}(g_i)`, and
            :math:`\ge 0` when :math:`|\lambda x_i| \le 1`.
        relative: ``max(slack, 0) / ||g||_1`` (0 when :math:`g = 0`); for feasible :math:`x` its
            sum is the first term of :func:`kkt_residual` with ``grad_scale=0``.
        infeasibility: :math:`(\lambda|x_i| - 1)_+`.
        violation: ``relative + infeasibility``, the per-coordinate violation (0 iff coordinate
            ``i`` satisfies its KKT condition).
    """

    slack: np.ndarray
    relative: np.ndarray
    infeasibility: np.ndarray
    violation: np.ndarray

    @property
    def worst(self) -> float:
        """The largest per-coordinate violation."""
        return float(self.violation.max()) if self.violation.size else 0.0


def linf_kkt_diagnostic(x, grad, weight_decay: float) -> LinfKKTDiagnostic:
    r"""Coordinate-wise KKT conditions of :math:`\min_{\|x\|_\infty\le1/\lambda}L(x)`.

    For :math:`\ell_\infty` the dual norm is :math:`\ell_1` and Lemma 3.8 reads
    :math:`\sum_i(|g_i| + \lambda x_i g_i) = 0`; every term is :math:`\ge0` on the box, so the
    condition holds coordinate by coordinate: :math:`g_i = 0`, or :math:`|x_i| = 1/\lambda` with
    :math:`\operatorname{sign}(x_i) = -\operatorname{sign}(g_i)` (complementary slackness with
    multiplier :math:`|g_i|` for the constraint :math:`|x_i|\le1/\lambda`).

    Args:
        x, grad: the point and :math:`\nabla L(x)` (same shape).
        weight_decay: :math:`\lambda > 0`.

    Returns:
        a :class:`LinfKKTDiagnostic` whose arrays have the shape of ``x``.

    >>> diag = linf_kkt_diagnostic([-1.0, 0.3, 1.0], [2.0, 0.0, 1.0], 1.0)
    >>> diag.slack                         # third coordinate sits on the wrong face
    array([0., 0., 2.])
    >>> diag.violation
    array([0.        , 0.        , 0.66666667])
    """
    weight_decay = _check_weight_decay(weight_decay)
    x, grad = validation.point_and_gradient(x, grad)
    # |g_i| + lambda x_i g_i: zero iff g_i = 0 or lambda x_i = -sign(g_i) (on the box).
    slack = np.abs(grad) + weight_decay * x * grad
    total = float(np.abs(grad).sum())
    relative = np.maximum(slack, 0.0) / total if total > 0.0 else np.zeros_like(slack)
    infeasibility = np.maximum(weight_decay * np.abs(x) - 1.0, 0.0)
    return LinfKKTDiagnostic(slack=slack, relative=relative, infeasibility=infeasibility,
                             violation=relative + infeasibility)


def kkt_residual_path(xs, grad_fn, weight_decay: float, norm, grad_scale: float = 0.0) -> np.ndarray:
    r""":func:`kkt_residual` at every iterate of a run: ``out[t]`` is :math:`r(x_t)`.

    Args:
        xs: iterates, shape ``(T + 1, d)`` (e.g. ``steepest.History.xs`` or ``adamw.History.xs``).
        grad_fn: :math:`x \mapsto \nabla L(x)`.
        weight_decay, norm, grad_scale: as in :func:`kkt_residual`.

    >>> kkt_residual_path(np.array([[0.0], [1.0]]), lambda x: x - 2.0, 1.0, "linf")
    array([1., 0.])
    """
    xs = validation.finite_array("xs", xs, min_ndim=1)
    return np.array([kkt_residual(x, grad_fn(x), weight_decay, norm, grad_scale) for x in xs])


def averaged_direction(deltas, lrs) -> np.ndarray:
    r"""Running weighted averages :math:`\bar\Delta_t = S_t^{-1}\sum_{s\le t}\eta_s\Delta_s`,
    :math:`S_t=\sum_{s\le t}\eta_s` (Lemma 3.9 and Lemma 4.1, item 1).

    Args:
        deltas: directions, ``deltas[t-1]`` :math:`=\Delta_t`, shape ``(T, ...)``.
        lrs: :math:`\eta_1,\dots,\eta_T` (positive).

    Returns:
        ``out[t-1]`` :math:`=\bar\Delta_t`, same shape as ``deltas``.

    >>> averaged_direction(np.array([[1.0], [-1.0], [-1.0]]), np.array([2.0, 1.0, 1.0]))[:, 0]
    array([1.        , 0.33333333, 0.        ])
    """
    deltas = validation.finite_array("deltas", deltas, min_ndim=1)
    lrs = validation.finite_array("lrs", lrs, ndim=1)
    if lrs.shape != deltas.shape[:1] or np.any(lrs <= 0):
        raise ValueError("lrs must be positive, one per direction")
    weights = lrs.reshape((-1,) + (1,) * (deltas.ndim - 1))
    return np.cumsum(weights * deltas, axis=0) / np.cumsum(weights, axis=0)
