r"""Convex test problems whose smoothness is known in every :math:`\ell_p` norm we use.

A loss :math:`L` has :math:`H`-Lipschitz gradient w.r.t. a norm :math:`\|\cdot\|` (the paper's
"smoothness", Section 2) when

.. math::  \|\nabla L(x) - \nabla L(y)\|_* \le H\,\|x - y\| \quad\text{for all } x, y .

For a twice-differentiable convex :math:`L` with :math:`0 \preceq \nabla^2 L(x) \preceq M` for all
:math:`x`, the mean-value theorem gives :math:`H = \sup_x \|\nabla^2 L(x)\|_{p\to q} \le \|M\|_{p\to q}`,
and for a positive semi-definite matrix the operator norm is a maximum of a quadratic form,

.. math::  \|M\|_{p\to q} = \max_{\|u\|_p\le1,\,\|v\|_p\le1} v^\top M u = \max_{\|u\|_p \le 1} u^\top M u

(Cauchy--Schwarz for the semi-inner product :math:`(u, v)\mapsto v^\top M u`), and
:math:`0\preceq B\preceq M` implies :math:`\|B\|_{p\to q}\le\|M\|_{p\to q}`. The maximum of the convex
function :math:`u\mapsto u^\top M u` over a polytope sits at a vertex, so (:func:`psd_smoothness`):

* ``l2``: :math:`\lambda_{\max}(M)`;
* ``l1`` (vertices :math:`\pm e_i`): :math:`\max_i M_{ii} = \max_{ij}|M_{ij}|`;
* ``linf`` (vertices :math:`\{\pm1\}^d`): :math:`\|M\|_{\infty\to1}=\max_{v\in\{\pm1\}^d} v^\top M v`,
  computed exactly by enumerating the :math:`2^{d-1}` sign vectors up to ``d = MAX_ENUMERATION_DIM``
  and otherwise replaced by the upper bound :math:`\sum_{ij}|M_{ij}|` (the problem's
  ``smoothness_is_exact(norm)`` says which was used). The exact problem is NP-hard in general
  (it contains MAX-CUT), hence the fallback.

Problems (book chapters ``ch-convex-rate`` and ``ch-synthetic``):

* :class:`ConvexQuadratic` -- :math:`\tfrac12(x-c)^\top A(x-c)`, :math:`M = A` (exact constants);
* :class:`LogisticRegression` -- :math:`\tfrac1n\sum_i\log(1+e^{-y_i a_i^\top x})`,
  :math:`M=\tfrac1{4n}A^\top A` (a valid, generally not tight, constant);
* :class:`SeparableQuadratic` -- Eq. 3, :math:`\tfrac12\sum_i h_i(x_i-x^\star_i)^2` with
  :math:`h_i = 1/i^2`: :math:`H_2 = H_1 = \max_i h_i`, :math:`H_\infty=\sum_i h_i` (exact for every ``d``).

>>> import numpy as np
>>> quad = ConvexQuadratic(np.array([[2.0, -1.0], [-1.0, 2.0]]), np.zeros(2))
>>> [float(quad.smoothness(n)) for n in ("l1", "l2", "linf")]
[2.0, 3.0, 6.0]
>>> quad.smoothness_is_exact("linf")
True
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import expit

from . import validation
from ._compat import deprecated_names
from .norms import get_norm

__all__ = [
    "MAX_ENUMERATION_DIM",
    "psd_smoothness",
    "observed_smoothness",
    "sign_vectors",
    "haar_rotation",
    "ConvexQuadratic",
    "LogisticRegression",
    "SeparableQuadratic",
    "box_target_quadratic",
]

#: Largest dimension for which the l_inf constant of a dense PSD matrix is computed exactly by
#: enumerating sign vectors (2^(d-1) of them); above it the sum of the absolute entries is used.
MAX_ENUMERATION_DIM = 16


def _norm_key(norm) -> str:
    norm = get_norm(norm)
    if norm.name not in ("l1", "l2", "linf"):
        raise ValueError(f"norm must be 'l1', 'l2' or 'linf' here, got norm={norm.name!r}")
    return norm.name


def sign_vectors(d: int) -> np.ndarray:
    """All vectors of {-1, +1}^d with first coordinate +1 (v and -v give the same form)."""
    d = validation.positive_int("d", d)
    tails = np.array(list(itertools.product((-1.0, 1.0), repeat=d - 1))).reshape(2 ** (d - 1), d - 1)
    return np.hstack([np.ones((tails.shape[0], 1)), tails])


def haar_rotation(dim: int, rng: np.random.Generator) -> np.ndarray:
    """A random orthogonal ``dim x dim`` matrix, Haar-distributed (QR of a Gaussian matrix with the
    signs of ``diag(R)`` folded in, which makes the distribution exactly uniform)."""
    dim = validation.positive_int("dim", dim)
    q, r = np.linalg.qr(rng.normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


def psd_smoothness(matrix: np.ndarray, norm, max_enumeration_dim: int = MAX_ENUMERATION_DIM):
    r"""Operator norm :math:`\|M\|_{p\to q}=\max_{\|u\|_p\le1}u^\top Mu` of a PSD matrix.

    Args:
        matrix: symmetric positive semi-definite :math:`M` (d x d).
        norm: ``"l1"``, ``"l2"`` or ``"linf"``.
        max_enumeration_dim: enumerate sign vectors for ``linf`` only up to this ``d``.

    Returns:
        ``(value, exact)``: the constant and whether it is exact (``False`` only for ``linf`` with
        ``d > max_enumeration_dim``, where the upper bound :math:`\sum_{ij}|M_{ij}|` is returned).

    >>> psd_smoothness(np.array([[1.0, 1.0], [1.0, 1.0]]), "linf")
    (4.0, True)
    """
    m = validation.finite_array("matrix", matrix, ndim=2)
    if m.shape[0] != m.shape[1]:
        raise ValueError(f"matrix must be square, got shape {m.shape}")
    key = _norm_key(norm)
    if key == "l2":
        return float(np.linalg.eigvalsh(m)[-1]), True
    if key == "l1":
        return float(np.max(np.abs(m))), True
    d = m.shape[0]
    if d <= max_enumeration_dim:
        signs = sign_vectors(d)
        return float(np.max(np.einsum("ki,ij,kj->k", signs, m, signs))), True
    return float(np.sum(np.abs(m))), False


def observed_smoothness(grad_fn, norm, xs, ys) -> float:
    r"""The largest observed Lipschitz ratio of the gradient over the pairs :math:`(x_i, y_i)`,

    .. math::  \max_i \frac{\|\nabla L(x_i)-\nabla L(y_i)\|_*}{\|x_i-y_i\|},

    a lower estimate of the smoothness constant :math:`H` (Definition ``def-smoothness``): it
    may never exceed a valid :math:`H`, and reaches it on pairs whose difference is a maximiser.

    Args:
        grad_fn: :math:`x\mapsto\nabla L(x)`.
        norm: the norm of the displacements (the dual norm measures the gradients).
        xs, ys: points, shape ``(n, d)`` or ``(d,)`` (broadcast against the other), with
            :math:`x_i\ne y_i`.

    >>> quad = ConvexQuadratic(np.diag([1.0, 4.0]), np.zeros(2))
    >>> observed_smoothness(quad.grad, "l2", np.zeros(2), np.eye(2))
    4.0
    """
    norm = get_norm(norm)
    xs = validation.finite_array("xs", xs, min_ndim=1)
    ys = validation.finite_array("ys", ys, min_ndim=1)
    if xs.shape[-1] != ys.shape[-1]:
        raise ValueError(f"xs and ys must be points of one space, got shapes {xs.shape}, {ys.shape}")
    xs, ys = np.broadcast_arrays(np.atleast_2d(xs), np.atleast_2d(ys))
    return max(norm.dual(grad_fn(x) - grad_fn(y)) / norm.value(x - y) for x, y in zip(xs, ys))


class _PsdCurvatureProblem:
    """Shared smoothness bookkeeping: subclasses set ``self.curvature_bound`` (the matrix M)."""

    curvature_bound: np.ndarray

    def _smoothness(self, norm):
        key = _norm_key(norm)
        cache = self.__dict__.setdefault("_smoothness_cache", {})
        if key not in cache:
            cache[key] = psd_smoothness(self.curvature_bound, key)
        return cache[key]

    def smoothness(self, norm) -> float:
        """A valid smoothness constant H w.r.t. ``norm`` (see the module docstring)."""
        return self._smoothness(norm)[0]

    def smoothness_is_exact(self, norm) -> bool:
        """Whether :meth:`smoothness` is the exact operator norm of ``curvature_bound``."""
        return self._smoothness(norm)[1]

    @property
    def dim(self) -> int:
        return self.curvature_bound.shape[0]


class ConvexQuadratic(_PsdCurvatureProblem):
    r"""The convex quadratic :math:`L(x)=\tfrac12(x-c)^\top A(x-c)`, :math:`A\succeq0`.

    :math:`\nabla L(x)=A(x-c)`, :math:`\nabla^2L = A`, so :math:`H=\|A\|_{p\to q}` exactly (for ``linf``
    up to :data:`MAX_ENUMERATION_DIM`; beyond it the bound :math:`\sum_{ij}|A_{ij}|`).

    Args:
        hessian: symmetric PSD matrix :math:`A` (checked up to round-off).
        center: the unconstrained minimiser :math:`c`.

    >>> q = ConvexQuadratic(np.diag([1.0, 4.0]), np.array([1.0, 1.0]))
    >>> float(q.loss(np.zeros(2))), q.grad(np.zeros(2))
    (2.5, array([-1., -4.]))
    """

    def __init__(self, hessian, center):
        a = validation.finite_array("hessian", hessian)
        c = validation.finite_array("center", center)
        if a.ndim != 2 or a.shape[0] != a.shape[1] or c.shape != (a.shape[0],):
            raise ValueError(f"hessian must be d x d and center length d, got {a.shape}, {c.shape}")
        if not np.allclose(a, a.T, atol=1e-12 * max(1.0, np.abs(a).max())):
            raise ValueError("hessian must be symmetric")
        if np.linalg.eigvalsh(a)[0] < -1e-10 * max(1.0, np.abs(a).max()):
            raise ValueError("hessian must be positive semi-definite (convex loss)")
        self.hessian = (a + a.T) / 2
        self.center = c
        self.curvature_bound = self.hessian

    @classmethod
    def random(cls, dim: int, rng: np.random.Generator, center_scale: float = 1.0,
               condition: float = 100.0):
        r"""A random instance :math:`A = Q\operatorname{diag}(w)Q^\top` with a Haar-random rotation
        :math:`Q` and eigenvalues :math:`w_i` log-uniform in :math:`[1/\text{condition}, 1]` (so
        :math:`H_2\le1` and the condition number is at most ``condition``; a bounded condition
        number keeps the cvxpy reference accurate), and :math:`c\sim\mathcal N(0,
        \text{center\_scale}^2 I)`."""
        if not (validation.real("condition", condition) >= 1.0 and np.isfinite(condition)):
            raise ValueError(f"condition must be finite and >= 1, got condition={condition!r}")
        dim = validation.positive_int("dim", dim)
        center_scale = validation.nonneg_finite("center_scale", center_scale)
        q = haar_rotation(dim, rng)
        w = np.exp(rng.uniform(-np.log(condition), 0.0, size=dim))
        return cls((q * w) @ q.T, center_scale * rng.normal(size=dim))

    def rotated(self, rotation) -> "ConvexQuadratic":
        r"""The same loss in the coordinates :math:`y=Rx` of an orthogonal :math:`R`:
        :math:`\tilde L(y)=L(R^\top y)=\tfrac12(y-Rc)^\top RAR^\top(y-Rc)`.

        Gradient descent is equivariant (:math:`\tilde y_t=Rx_t`); coordinate-wise methods (sign
        descent, Adam) are not, and :math:`H_\infty` changes while :math:`H_2` does not.

        >>> q = ConvexQuadratic(np.diag([1.0, 0.0]), np.array([1.0, 0.0]))
        >>> r = q.rotated(np.array([[0.0, 1.0], [-1.0, 0.0]]))  # a quarter turn
        >>> r.center.tolist(), r.hessian.tolist()
        ([0.0, -1.0], [[0.0, 0.0], [0.0, 1.0]])
        """
        R = validation.finite_array("rotation", rotation, ndim=2)
        if R.shape != (self.dim, self.dim) or not np.allclose(R @ R.T, np.eye(self.dim), atol=1e-12):
            raise ValueError(f"rotation must be an orthogonal {self.dim} x {self.dim} matrix")
        hessian = R @ self.hessian @ R.T
        return ConvexQuadratic((hessian + hessian.T) / 2, R @ self.center)

    def loss(self, x) -> float:
        r""":math:`\tfrac12(x-c)^\top A(x-c)`."""
        r = validation.vector("x", x, self.dim) - self.center
        return float(0.5 * r @ self.hessian @ r)

    def grad(self, x) -> np.ndarray:
        r""":math:`A(x-c)`."""
        return self.hessian @ (validation.vector("x", x, self.dim) - self.center)


class LogisticRegression(_PsdCurvatureProblem):
    r"""Average logistic loss :math:`L(x)=\frac1n\sum_{i=1}^n\log\big(1+e^{-y_i a_i^\top x}\big)`,
    labels :math:`y_i\in\{\pm1\}`, features :math:`a_i` the rows of ``features``.

    Derivatives, with :math:`\sigma(s)=1/(1+e^{-s})` and margins :math:`m_i = y_ia_i^\top x`:

    .. math::

        \nabla L(x) = -\tfrac1n\sum_i \sigma(-m_i)\,y_i a_i,

        \nabla^2L(x)=\tfrac1n\sum_i\sigma(m_i)\sigma(-m_i)\,a_ia_i^\top
               \preceq \tfrac1{4n}A^\top A =: M,

    since :math:`\sigma(s)\sigma(-s)\le 1/4`. Hence :math:`H = \|M\|_{p\to q}` is a valid smoothness
    constant in every norm (:func:`psd_smoothness`); it is attained only if all margins vanish
    together, so it is an upper bound of the true constant.

    >>> lr = LogisticRegression(np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([1.0, -1.0]))
    >>> round(lr.loss(np.zeros(2)), 6), lr.smoothness("l2")
    (0.693147, 0.5)
    """

    def __init__(self, features, labels):
        a = validation.finite_array("features", features)
        y = validation.finite_array("labels", labels)
        if a.ndim != 2 or y.shape != (a.shape[0],):
            raise ValueError(f"features must be n x d and labels length n, got {a.shape}, {y.shape}")
        if not np.all(np.abs(y) == 1.0):
            raise ValueError("labels must be +1 or -1")
        self.features, self.labels = a, y
        self.curvature_bound = a.T @ a / (4.0 * a.shape[0])

    @classmethod
    def random(cls, n_samples: int, dim: int, rng: np.random.Generator, noise: float = 0.5):
        """Gaussian features, labels from a random linear teacher with label noise (so the data
        need not be separable and the unconstrained minimiser is usually finite)."""
        n_samples = validation.positive_int("n_samples", n_samples)
        dim = validation.positive_int("dim", dim)
        noise = validation.nonneg_finite("noise", noise)
        a = rng.normal(size=(n_samples, dim))
        teacher = rng.normal(size=dim)
        y = np.sign(a @ teacher + noise * np.sqrt(dim) * rng.normal(size=n_samples))
        y[y == 0] = 1.0
        return cls(a, y)

    def loss(self, x) -> float:
        r""":math:`\frac1n\sum_i\log(1+e^{-m_i})`, evaluated stably as ``logaddexp(0, -m)``."""
        margins = self.labels * (self.features @ validation.vector("x", x, self.dim))
        return float(np.mean(np.logaddexp(0.0, -margins)))

    def grad(self, x) -> np.ndarray:
        r""":math:`-\frac1n A^\top\big(y\odot\sigma(-m)\big)`."""
        margins = self.labels * (self.features @ validation.vector("x", x, self.dim))
        return -self.features.T @ (self.labels * expit(-margins)) / self.features.shape[0]


class SeparableQuadratic:
    r"""Eq. 3: :math:`L(x)=\tfrac12\sum_{i=1}^d h_i\,(x_i-x^\star_i)^2` with :math:`h_i=1/i^2` by default.

    The Hessian is :math:`\operatorname{diag}(h)`, so (exactly, for every ``d``; no dense matrix is
    formed, which keeps ``d = 10^4`` cheap):

    * ``l2`` and ``l1``: :math:`H = \max_i h_i` (:math:`=1`);
    * ``linf``: :math:`H_\infty = \max_{\|u\|_\infty\le1}\|\operatorname{diag}(h)u\|_1 = \sum_i h_i
      < \pi^2/6`, attained at :math:`u=\mathbf 1`.

    The unconstrained minimum is :math:`L(x^\star)=0`.

    >>> p = SeparableQuadratic(np.ones(3))
    >>> p.smoothness("l2"), round(p.smoothness("linf"), 6)
    (1.0, 1.361111)
    """

    def __init__(self, target, curvatures=None):
        self.target = validation.finite_array("target", target, ndim=1)
        d = self.target.shape[0]
        if curvatures is None:
            curvatures = 1.0 / np.arange(1, d + 1) ** 2
        self.curvatures = validation.finite_array("curvatures", curvatures)
        if self.curvatures.shape != (d,) or np.any(self.curvatures < 0):
            raise ValueError("curvatures must be a nonnegative vector of the target's length")

    @property
    def dim(self) -> int:
        return self.target.shape[0]

    def loss(self, x) -> float:
        r""":math:`\tfrac12\sum_i h_i(x_i-x^\star_i)^2`."""
        residual = validation.vector("x", x, self.dim) - self.target
        return float(0.5 * np.sum(self.curvatures * residual ** 2))

    def grad(self, x) -> np.ndarray:
        r""":math:`h\odot(x-x^\star)`; also for a stack of points, shape ``(..., d)`` (separable)."""
        return self.curvatures * (validation.vector("x", x, self.dim, batch=True) - self.target)

    def smoothness(self, norm) -> float:
        """Exact smoothness of the diagonal quadratic w.r.t. ``norm`` (see the class docstring)."""
        key = _norm_key(norm)
        return float(np.sum(self.curvatures)) if key == "linf" else float(np.max(self.curvatures))

    def smoothness_is_exact(self, norm) -> bool:
        """Always ``True``: the constants of a diagonal quadratic are in closed form."""
        _norm_key(norm)
        return True

    @property
    def hessian(self) -> np.ndarray:
        """The dense Hessian diag(h) (only for small ``d``, e.g. for cvxpy)."""
        return np.diag(self.curvatures)

    @property
    def center(self) -> np.ndarray:
        return self.target


def box_target_quadratic(dim: int, n_fixed: int, rng: np.random.Generator) -> SeparableQuadratic:
    r"""The instance of Section 5.2: Eq. 3 with :math:`x^\star_i = 1` for :math:`i\le` ``n_fixed``
    and :math:`x^\star_i\sim U[-1,1]` otherwise, so :math:`\|x^\star\|_\infty = 1` (if ``n_fixed >= 1``)
    while :math:`\|x^\star\|_2^2\approx n_{\rm fixed} + (d-n_{\rm fixed})/3` grows like ``d``.

    >>> p = box_target_quadratic(4, 2, np.random.default_rng(0))
    >>> p.target[:2], bool(np.max(np.abs(p.target)) == 1.0)
    (array([1., 1.]), True)
    """
    dim = validation.positive_int("dim", dim)
    if not (isinstance(n_fixed, (int, np.integer)) and 0 <= n_fixed <= dim):
        raise ValueError(f"n_fixed must lie in [0, dim], got n_fixed={n_fixed!r}")
    target = np.concatenate([np.ones(n_fixed), rng.uniform(-1.0, 1.0, size=dim - n_fixed)])
    return SeparableQuadratic(target)


def _loss_curves():
    from .steepest import loss_curves  # imported lazily: problems holds no algorithms

    return loss_curves


def _loss_curve_methods():
    from .steepest import LOSS_CURVE_METHODS

    return LOSS_CURVE_METHODS


# Old names, kept for code written against earlier versions; they warn with a DeprecationWarning.
__getattr__ = deprecated_names(__name__, {
    "eq3_problem": ("box_target_quadratic", lambda: box_target_quadratic),
    "figure3_runs": ("implicit_bias.steepest.loss_curves", _loss_curves),
    "FIGURE3_METHODS": ("implicit_bias.steepest.LOSS_CURVE_METHODS", _loss_curve_methods),
})
