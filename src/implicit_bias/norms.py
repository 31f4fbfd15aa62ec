r"""Norms, dual norms, steepest-descent directions and linear minimisation oracles.

The vector norms here are the :math:`\ell_p` norms on :math:`\mathbb{R}^d`, :math:`1 \le p \le \infty`,

.. math::  \|x\|_p = \Big(\sum_i |x_i|^p\Big)^{1/p}, \qquad \|x\|_\infty = \max_i |x_i|,

whose dual norm is :math:`\|\cdot\|_q` with :math:`1/p + 1/q = 1`; the matrix norms
(:class:`MatrixNorm`: spectral, nuclear, Frobenius, on 2-D arrays) are the Schatten norms of the
singular values, used by the book chapter ``ch-many-optimizers`` (Muon, spectral descent).

The central object is the *steepest direction* of Lemma 2.2 (book label ``lem-2-2``):

.. math::  \Delta \in \arg\max_{\|\Delta\| \le 1} \langle g, \Delta\rangle = \partial \|g\|_*,

so that :math:`\langle g, \Delta\rangle = \|g\|_*` and :math:`\|\Delta\| = 1` whenever :math:`g \ne 0`.
The linear minimisation oracle (LMO) of Frank--Wolfe on the ball of radius :math:`r` is then
:math:`\arg\min_{\|s\|\le r}\langle g, s\rangle = -r\,\Delta`.

Tie rule (book label ``ch-steepest``): when the maximiser is not unique we return a
*deterministic* element of the set of maximisers:

* ``linf``: :math:`\Delta_i = \operatorname{sign}(g_i)`; a coordinate with :math:`g_i = 0` gets
  :math:`\Delta_i = 0`.  This is ``np.sign`` and matches SignGD / Adam with :math:`\beta_1=\beta_2=0`;
  it is still a maximiser (the zero coordinates do not affect :math:`\langle g,\Delta\rangle`) but it is
  *not* a vertex of the cube when :math:`g` has zeros, and :math:`\|\Delta\|_\infty = 1` only if
  :math:`g\neq 0`.
* ``l1``: all mass on the *first* coordinate of largest :math:`|g_i|` (a vertex of the cross-polytope).
* ``l2`` and ``1 < p < inf``: the maximiser is unique for :math:`g \ne 0`.
* :math:`g = 0`: every feasible :math:`\Delta` is a maximiser; we return :math:`\Delta = 0`.

Example:

>>> import numpy as np
>>> norm = get_norm("linf")
>>> norm.steepest_direction(np.array([2.0, -0.5, 0.0]))
array([ 1., -1.,  0.])
>>> float(norm.dual(np.array([2.0, -0.5, 0.0])))
2.5
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from . import validation

__all__ = ["Norm", "LpNorm", "MatrixNorm", "get_norm", "NORM_NAMES", "MATRIX_NORM_NAMES",
           "polar_factor"]

#: Aliases accepted by :func:`get_norm`, mapped to the exponent ``p``.
NORM_NAMES = {"l1": 1.0, "l2": 2.0, "linf": math.inf, "inf": math.inf}


@runtime_checkable
class Norm(Protocol):
    r"""What every norm of this package provides (:class:`LpNorm`, :class:`MatrixNorm`).

    Code that needs a norm asks for this protocol, not for a class or an attribute such as ``p``.
    ``value`` is :math:`\|x\|`, ``dual`` is :math:`\|g\|_*`, ``steepest_direction`` is the
    :math:`\Delta` of Lemma 2.2 with :math:`\langle g,\Delta\rangle=\|g\|_*` and
    :math:`\|\Delta\|\le1`, and ``lmo(g, r)`` is :math:`\arg\min_{\|s\|\le r}\langle g,s\rangle
    =-r\Delta`.

    >>> isinstance(get_norm("linf"), Norm), isinstance(get_norm("spectral"), Norm)
    (True, True)
    """

    @property
    def name(self) -> str: ...

    @property
    def dual_norm(self) -> "Norm": ...

    def value(self, x: np.ndarray) -> float: ...

    def dual(self, g: np.ndarray) -> float: ...

    def steepest_direction(self, g: np.ndarray) -> np.ndarray: ...

    def lmo(self, g: np.ndarray, radius: float) -> np.ndarray: ...


def _dual_exponent(p: float) -> float:
    """Hölder conjugate q of p: 1/p + 1/q = 1."""
    if p == 1.0:
        return math.inf
    if math.isinf(p):
        return 1.0
    return p / (p - 1.0)


def _lp(x: np.ndarray, p: float) -> float:
    """The l_p norm of a flattened array, scaled to avoid overflow for large p."""
    a = np.abs(np.asarray(x, dtype=float)).ravel()
    if a.size == 0:
        return 0.0
    if math.isinf(p):
        return float(a.max())
    if p == 1.0:
        return float(a.sum())
    scale = a.max()
    if p == 2.0:
        # np.linalg.norm squares first: it overflows for |x| ~ 1e155 and underflows to 0 for
        # |x| ~ 1e-162 (which would make steepest_direction return 0 for a nonzero g).
        if scale == 0.0 or not math.isfinite(scale):
            return float(np.linalg.norm(a))  # 0, inf or nan, as before
        return float(scale * np.linalg.norm(a / scale))
    if scale == 0.0:
        return 0.0
    return float(scale * np.sum((a / scale) ** p) ** (1.0 / p))


@dataclass(frozen=True)
class LpNorm:
    r"""The :math:`\ell_p` norm for a fixed :math:`p \in [1, \infty]`.

    Attributes:
        p: the exponent of the norm.
        q: the exponent of the dual norm, :math:`1/p + 1/q = 1`.
        name: ``"l1"``, ``"l2"``, ``"linf"`` or ``"l<p>"``.
    """

    p: float

    def __post_init__(self) -> None:
        p = float(self.p)
        if math.isnan(p) or p < 1.0:
            raise ValueError(f"norm exponent p must satisfy 1 <= p <= inf, got p={self.p!r}")
        object.__setattr__(self, "p", p)

    @property
    def q(self) -> float:
        return _dual_exponent(self.p)

    @property
    def name(self) -> str:
        if math.isinf(self.p):
            return "linf"
        return f"l{self.p:g}"

    @property
    def dual_norm(self) -> "LpNorm":
        """The dual norm as an :class:`LpNorm` (its own dual is ``self``)."""
        return LpNorm(self.q)

    def value(self, x: np.ndarray) -> float:
        r""":math:`\|x\|_p` of the flattened array ``x`` (finite entries)."""
        return _lp(validation.finite_array("x", x), self.p)

    def dual(self, g: np.ndarray) -> float:
        r"""The dual norm :math:`\|g\|_* = \|g\|_q = \max_{\|x\|_p\le 1}\langle g, x\rangle`."""
        return _lp(validation.finite_array("g", g), self.q)

    def steepest_direction(self, g: np.ndarray) -> np.ndarray:
        r"""A steepest direction :math:`\Delta\in\arg\max_{\|\Delta\|_p\le1}\langle g,\Delta\rangle`.

        Lemma 2.2: the maximisers are exactly :math:`\partial\|g\|_*`, so the returned vector
        satisfies :math:`\langle g,\Delta\rangle = \|g\|_q` and :math:`\|\Delta\|_p = 1` for
        :math:`g \ne 0`.  Closed forms (with the tie rule of the module docstring):

        * :math:`p=\infty`: :math:`\Delta = \operatorname{sign}(g)`;
        * :math:`p=1`: :math:`\Delta = \operatorname{sign}(g_j) e_j`, :math:`j` the first index of
          :math:`\max_i |g_i|`;
        * :math:`1<p<\infty`: :math:`\Delta_i = \operatorname{sign}(g_i)\,|g_i|^{q-1}/\|g\|_q^{q-1}`.

        The output has the shape of ``g``; ``g = 0`` gives ``0``.
        """
        g = validation.finite_array("gradient g", g)
        if _lp(g, self.q) == 0.0:  # g = 0 (checked, so the dual norm is not validated again)
            return np.zeros_like(g)
        if math.isinf(self.p):
            return np.sign(g)
        if self.p == 1.0:
            flat = g.ravel()
            j = int(np.argmax(np.abs(flat)))
            d = np.zeros_like(flat)
            d[j] = np.sign(flat[j])
            return d.reshape(g.shape)
        scale = np.abs(g).max()  # work with g/scale so |g|^(q-1) cannot overflow
        weights = np.sign(g) * (np.abs(g) / scale) ** (self.q - 1.0)
        # Dividing by ||weights||_p equals dividing by ||g/scale||_q^(q-1) (as (q-1)p = q), but it
        # does not raise the rounding error of ||g/scale||_q to the power q - 1, which is huge
        # as p -> 1 (p = 1 + 2e-16 gave <g, Delta> off by 26% before).
        return weights / _lp(weights, self.p)

    def lmo(self, g: np.ndarray, radius: float) -> np.ndarray:
        r"""Linear minimisation oracle :math:`s\in\arg\min_{\|s\|_p\le r}\langle g,s\rangle = -r\Delta`.

        This is the Frank--Wolfe oracle on the ball of radius ``radius`` (Algorithm 2); its
        value is :math:`\langle g, s\rangle = -r\|g\|_*`.
        """
        radius = validation.nonneg_finite("radius", radius)
        return -radius * self.steepest_direction(g)

    def random_point(self, rng: np.random.Generator, dim: int, radius: float = 1.0) -> np.ndarray:
        r"""A random point on the sphere :math:`\{\|x\|_p = r\}` of :math:`\mathbb{R}^d`:
        :math:`x = r\,u/\|u\|_p` with :math:`u\sim\mathcal N(0, I_d)` (one draw of ``dim``
        standard normals from ``rng``; not uniform on the sphere unless :math:`p=2`).

        Scale it by a random factor in :math:`[0, 1]` for a point of the ball.

        >>> x = get_norm("l1").random_point(np.random.default_rng(0), 4, radius=2.0)
        >>> x.shape, round(get_norm("l1").value(x), 12)
        ((4,), 2.0)
        """
        dim = validation.positive_int("dim", dim)
        radius = validation.nonneg_finite("radius", radius)
        u = rng.standard_normal(dim)
        return radius * u / self.value(u)

    def __repr__(self) -> str:
        return f"LpNorm(p={self.p:g})"


#: The Schatten norms of :class:`MatrixNorm` (exponent of the singular values).
MATRIX_NORM_NAMES = ("spectral", "nuclear", "frobenius")
_MATRIX_DUALS = {"spectral": "nuclear", "nuclear": "spectral", "frobenius": "frobenius"}


def _rank_tol(s, shape) -> float:
    """Singular values at or below ``max(m, n) * eps * sigma_max`` count as zero (the rule of
    ``np.linalg.matrix_rank``, float64 eps): they are round-off of an exactly rank-deficient
    matrix.  ``s`` is a 1-D NumPy array or torch tensor, sorted decreasingly."""
    return float(max(shape) * np.finfo(np.float64).eps * (float(s[0]) if len(s) else 0.0))


def _is_torch_tensor(g) -> bool:
    # duck-typed, so that importing this module does not import torch
    return type(g).__module__.split(".")[0] == "torch"


def polar_factor(g):
    r"""The thin polar factor :math:`U_r V_r^\top` of a matrix :math:`G = U\Sigma V^\top`, with
    :math:`r` the numerical rank (singular values above ``max(m, n) * eps * sigma_max``).

    ``g`` is a 2-D NumPy array (the result is a float64 array) or a 2-D torch tensor (the SVD
    runs in float64 on ``g``'s device and the result has ``g``'s dtype and device; this is the
    direction of :class:`implicit_bias.optim.NormalizedSteepestDescent` with ``norm="spectral"``,
    exact, unlike Muon's Newton--Schulz iteration).

    It is the steepest direction of the spectral norm (``prop-spectral-steepest``):
    :math:`\langle G, U_rV_r^\top\rangle = \sum_i\sigma_i = \|G\|_*` and
    :math:`\|U_rV_r^\top\|_{op} = 1` (for :math:`G\ne0`).  Tie rule: for a rank-deficient
    :math:`G` every :math:`U_rV_r^\top + W'` with :math:`W'` mapping the null space of :math:`G`
    into the orthogonal complement of its range and :math:`\|W'\|_{op}\le1` is also a maximiser;
    we return the one with :math:`W' = 0` (zero on the null spaces, the minimal-Frobenius-norm
    maximiser), so ``G = 0`` gives ``0``.

    >>> polar_factor(np.array([[2.0, 0.0], [0.0, 0.0]]))
    array([[1., 0.],
           [0., 0.]])
    """
    if _is_torch_tensor(g):
        import torch

        u, s, vt = torch.linalg.svd(g.detach().to(dtype=torch.float64), full_matrices=False)
    else:
        u, s, vt = np.linalg.svd(g, full_matrices=False)
    r = int((s > _rank_tol(s, g.shape)).sum()) if len(s) and float(s[0]) > 0 else 0
    polar = u[:, :r] @ vt[:r]
    return polar.to(dtype=g.dtype) if _is_torch_tensor(g) else polar


@dataclass(frozen=True)
class MatrixNorm:
    r"""A Schatten norm of a matrix :math:`W\in\mathbb{R}^{m\times n}` (2-D arrays only):

    * ``"spectral"`` (Schatten-∞, operator norm): :math:`\|W\|_{op} = \sigma_{\max}(W)`; dual the
      nuclear norm; steepest direction the polar factor :math:`UV^\top` (:func:`polar_factor`),
      so NSD-WD in this norm is exact Muon without momentum ("spectral descent");
    * ``"nuclear"`` (Schatten-1): :math:`\sum_i\sigma_i`; dual the spectral norm; steepest
      direction :math:`u_1v_1^\top`, the top singular pair (tie rule: the first pair that
      ``np.linalg.svd`` returns; its sign is fixed by :math:`\langle G, u_1v_1^\top\rangle=\sigma_1>0`);
    * ``"frobenius"`` (Schatten-2): :math:`\|W\|_F`; self-dual; steepest direction
      :math:`G/\|G\|_F`.

    The interface is that of :class:`LpNorm` (``value``, ``dual``, ``dual_norm``,
    ``steepest_direction``, ``lmo``, ``random_point``), so :func:`~implicit_bias.steepest.nsd_wd_step`,
    :func:`~implicit_bias.steepest.frank_wolfe_step` and the runners accept it unchanged.
    ``g = 0`` gives the direction ``0``, as for :class:`LpNorm`.

    >>> spec = get_norm("spectral")
    >>> g = np.array([[3.0, 0.0], [0.0, -1.0]])
    >>> spec.value(g), spec.dual(g)
    (3.0, 4.0)
    >>> spec.steepest_direction(g)
    array([[ 1.,  0.],
           [ 0., -1.]])
    """

    kind: str

    def __post_init__(self) -> None:
        if self.kind not in MATRIX_NORM_NAMES:
            raise ValueError(f"matrix norm must be one of {MATRIX_NORM_NAMES}, got {self.kind!r}")

    @property
    def name(self) -> str:
        return self.kind

    @property
    def dual_norm(self) -> "MatrixNorm":
        """The dual norm (spectral and nuclear are each other's dual; Frobenius is self-dual)."""
        return MatrixNorm(_MATRIX_DUALS[self.kind])

    @staticmethod
    def _matrix(name: str, x) -> np.ndarray:
        return validation.finite_array(name, x, ndim=2)

    @staticmethod
    def _schatten(x: np.ndarray, kind: str) -> float:
        if x.size == 0:
            return 0.0
        if kind == "frobenius":
            return _lp(x, 2.0)
        s = np.linalg.svd(x, compute_uv=False)
        return float(s[0]) if kind == "spectral" else float(s.sum())

    def value(self, x: np.ndarray) -> float:
        """The norm of the matrix ``x``."""
        return self._schatten(self._matrix("x", x), self.kind)

    def dual(self, g: np.ndarray) -> float:
        r"""The dual norm :math:`\max_{\|X\|\le1}\langle G, X\rangle` (trace inner product)."""
        return self._schatten(self._matrix("g", g), _MATRIX_DUALS[self.kind])

    def steepest_direction(self, g: np.ndarray) -> np.ndarray:
        r"""A maximiser of :math:`\langle G,\Delta\rangle` over :math:`\|\Delta\|\le1` (Lemma 2.2):
        polar factor (spectral), top singular pair (nuclear), :math:`G/\|G\|_F` (Frobenius);
        tie rules in the class docstring."""
        g = self._matrix("gradient g", g)
        if g.size == 0 or not np.any(g):
            return np.zeros_like(g)
        if self.kind == "frobenius":
            return g / _lp(g, 2.0)
        if self.kind == "spectral":
            return polar_factor(g)
        u, _, vt = np.linalg.svd(g, full_matrices=False)
        return np.outer(u[:, 0], vt[0])

    def lmo(self, g: np.ndarray, radius: float) -> np.ndarray:
        r"""Frank--Wolfe oracle :math:`\arg\min_{\|S\|\le r}\langle G,S\rangle = -r\Delta`
        (spectral: :math:`-rUV^\top`)."""
        radius = validation.nonneg_finite("radius", radius)
        return -radius * self.steepest_direction(g)

    def random_point(self, rng: np.random.Generator, shape, radius: float = 1.0) -> np.ndarray:
        r"""A random matrix of the given ``shape`` (a pair, or an int for a square matrix) on the
        sphere of radius ``radius``: a Gaussian matrix rescaled.

        >>> x = get_norm("spectral").random_point(np.random.default_rng(0), (3, 2), radius=2.0)
        >>> x.shape, round(get_norm("spectral").value(x), 12)
        ((3, 2), 2.0)
        """
        shape = (shape, shape) if isinstance(shape, numbers.Integral) else tuple(shape)
        if len(shape) != 2:
            raise ValueError(f"shape must be a pair (m, n), got shape={shape!r}")
        m, n = (validation.positive_int("shape[0]", shape[0]),
                validation.positive_int("shape[1]", shape[1]))
        radius = validation.nonneg_finite("radius", radius)
        u = rng.standard_normal((m, n))
        return radius * u / self.value(u)

    def __repr__(self) -> str:
        return f"MatrixNorm({self.kind!r})"


def get_norm(name: "str | float | int | LpNorm | MatrixNorm") -> "LpNorm | MatrixNorm":
    r"""Return the norm called ``name``.

    Args:
        name: ``"l1"``, ``"l2"``, ``"linf"`` (alias ``"inf"``), a string ``"l<p>"`` such as
            ``"l3"`` or ``"l1.5"``, a real number ``p >= 1`` (``math.inf`` included), a matrix
            norm ``"spectral"``, ``"nuclear"`` or ``"frobenius"`` (a :class:`MatrixNorm`, for
            2-D arrays), or any :class:`Norm` (e.g. an :class:`LpNorm`), which is returned unchanged.

    Raises:
        ValueError: for an empty or unknown name, or ``p < 1`` (not a norm).

    >>> get_norm("l2").dual_norm
    LpNorm(p=2)
    >>> get_norm(1.5).q
    3.0
    """
    if isinstance(name, Norm):
        return name
    if isinstance(name, bool):
        raise ValueError(f"unknown norm {name!r}")
    if isinstance(name, (int, float)):
        return LpNorm(float(name))
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"norm name must be a non-empty string or a number p >= 1, got {name!r}")
    key = name.strip().lower()
    if key in NORM_NAMES:
        return LpNorm(NORM_NAMES[key])
    if key in MATRIX_NORM_NAMES:
        return MatrixNorm(key)
    if key.startswith("l"):
        try:
            p = float(key[1:])
        except ValueError:
            p = None
        if p is not None:
            return LpNorm(p)
    raise ValueError(
        f"unknown norm {name!r}: use 'l1', 'l2', 'linf', 'l<p>', a number p >= 1, or a matrix "
        f"norm 'spectral', 'nuclear', 'frobenius'"
    )
