r"""Small non-convex test losses with analytic gradients, for the KKT and AdamW chapters.

Each loss is a frozen dataclass with ``loss(x) -> float``, ``grad(x) -> ndarray`` and ``dim``; the
flat parameter vector ``x`` has shape ``(dim,)``.  They are used by the book chapters ``ch-kkt``
and ``ch-adamw`` to run NSD-WD and AdamW on problems where the constrained minimiser is not known
and only the KKT conditions of Lemma 3.8 can be checked.

* :class:`Rosenbrock`: :math:`L(x)=\sum_{i<d} b\,(x_{i+1}-x_i^2)^2 + (a-x_i)^2`, minimiser
  :math:`(a,\dots,a)`; with :math:`1/\lambda < a` it lies outside every ball and the constraint is
  active.
* :class:`IndefiniteQuadratic`: :math:`L(x)=\tfrac12x^\top Ax+b^\top x` with a symmetric
  :math:`A` of both signs, the non-convex loss whose smoothness is known exactly in
  :math:`\ell_1`, :math:`\ell_2`, :math:`\ell_\infty` (for the Frank--Wolfe rate of ``ch-kkt``).
* :class:`TwoLayerNet`: the mean squared error of :math:`z \mapsto u^\top\tanh(Wz)` on fixed data,
  :math:`L(W,u)=\frac1{2n}\sum_j (u^\top\tanh(Wz_j)-y_j)^2`, with targets from a larger "teacher"
  network so that small weights cannot fit them.

Example:

>>> import numpy as np
>>> rosen = Rosenbrock(dim=3)
>>> rosen.loss(np.ones(3)), rosen.grad(np.ones(3))
(0.0, array([0., 0., 0.]))
>>> net = TwoLayerNet.make(n_samples=8, n_inputs=2, n_hidden=3, seed=0)
>>> net.dim
9
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import validation

__all__ = ["Rosenbrock", "IndefiniteQuadratic", "TwoLayerNet", "check_gradient"]



@dataclass(frozen=True)
class Rosenbrock:
    r"""The chained Rosenbrock function
    :math:`L(x)=\sum_{i=1}^{d-1} b\,(x_{i+1}-x_i^2)^2+(a-x_i)^2` (non-convex for :math:`d\ge2`).

    Its gradient is
    :math:`\partial_i L = -4b\,x_i(x_{i+1}-x_i^2) - 2(a-x_i) + 2b\,(x_i-x_{i-1}^2)`, with the terms
    that refer to :math:`x_0` or :math:`x_{d+1}` dropped.
    """

    dim: int = 2
    a: float = 1.0
    b: float = 100.0

    def __post_init__(self) -> None:
        validation.positive_int("dim", self.dim)
        validation.finite("a", self.a)
        validation.nonneg_finite("b", self.b)

    def loss(self, x) -> float:
        x = validation.vector("x", x, self.dim)
        head, tail = x[:-1], x[1:]
        return float(np.sum(self.b * (tail - head**2) ** 2 + (self.a - head) ** 2))

    def grad(self, x) -> np.ndarray:
        x = validation.vector("x", x, self.dim)
        head, tail = x[:-1], x[1:]
        inner = tail - head**2
        g = np.zeros_like(x)
        g[:-1] += -4.0 * self.b * head * inner - 2.0 * (self.a - head)
        g[1:] += 2.0 * self.b * inner
        return g


@dataclass(frozen=True)
class TwoLayerNet:
    r"""Squared loss of a two-layer tanh network on fixed data, as a function of its flat weights.

    .. math::

        L(x) = \frac{1}{2n}\sum_{j=1}^n \big(u^\top \tanh(W z_j) - y_j\big)^2,

        x = (\operatorname{vec} W, u),\ W\in\R^{h\times p},\ u\in\R^h .

    With :math:`H = \tanh(ZW^\top)` and residuals :math:`e = Hu - y`: :math:`\nabla_u L = H^\top e/n`
    and :math:`\nabla_W L = \big((e u^\top)\odot(1-H^2)\big)^\top Z/n`.

    Build one with :meth:`make`.
    """

    inputs: np.ndarray   # Z, shape (n, p)
    targets: np.ndarray  # y, shape (n,)
    n_hidden: int

    @classmethod
    def make(cls, n_samples: int = 40, n_inputs: int = 3, n_hidden: int = 4, seed: int = 0,
             teacher_scale: float = 3.0) -> "TwoLayerNet":
        """Random inputs :math:`z_j\\sim N(0,I)` and targets of a teacher network with weights
        :math:`\\sim N(0, \\text{teacher\\_scale}^2)`, plus a little noise."""
        for name, value in (("n_samples", n_samples), ("n_inputs", n_inputs), ("n_hidden", n_hidden)):
            validation.positive_int(name, value)
        teacher_scale = validation.nonneg_finite("teacher_scale", teacher_scale)
        rng = np.random.default_rng(seed)
        inputs = rng.normal(size=(n_samples, n_inputs))
        w_teacher = teacher_scale * rng.normal(size=(n_hidden, n_inputs))
        u_teacher = teacher_scale * rng.normal(size=n_hidden)
        targets = np.tanh(inputs @ w_teacher.T) @ u_teacher + 0.1 * rng.normal(size=n_samples)
        return cls(inputs=inputs, targets=targets, n_hidden=int(n_hidden))

    @property
    def dim(self) -> int:
        return self.n_hidden * (self.inputs.shape[1] + 1)

    def unpack(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Split the flat vector into :math:`W` (h x p) and :math:`u` (h,)."""
        x = validation.vector("x", x, self.dim)
        h, p = self.n_hidden, self.inputs.shape[1]
        return x[: h * p].reshape(h, p), x[h * p:]

    def _forward(self, x):
        w, u = self.unpack(x)
        hidden = np.tanh(self.inputs @ w.T)
        return w, u, hidden, hidden @ u - self.targets

    def loss(self, x) -> float:
        *_, residual = self._forward(x)
        return float(0.5 * np.mean(residual**2))

    def grad(self, x) -> np.ndarray:
        _, u, hidden, residual = self._forward(x)
        n = self.inputs.shape[0]
        grad_u = hidden.T @ residual / n
        grad_w = ((residual[:, None] * u[None, :]) * (1.0 - hidden**2)).T @ self.inputs / n
        return np.concatenate([grad_w.ravel(), grad_u])


@dataclass(frozen=True)
class IndefiniteQuadratic:
    r""":math:`L(x)=\tfrac12x^\top Ax+b^\top x` with :math:`A` symmetric, of any signature.

    :math:`\nabla L(x)=Ax+b` and :math:`\nabla^2L=A`, so the smoothness w.r.t. a norm is exactly
    the operator norm :math:`H=\max_{\|u\|\le1}\|Au\|_*` (:meth:`smoothness`):

    * ``l2``: :math:`\max_i|\lambda_i(A)|`;
    * ``l1`` (dual :math:`\ell_\infty`; the maximum of a convex function of :math:`u` over the
      cross-polytope sits at a vertex :math:`\pm e_j`): :math:`\max_{ij}|A_{ij}|`;
    * ``linf`` (dual :math:`\ell_1`; vertices of the cube): :math:`\max_{u\in\{\pm1\}^d}
      \|Au\|_1`, by enumeration, for :math:`d\le16` (``problems.MAX_ENUMERATION_DIM``).

    >>> q = IndefiniteQuadratic(np.array([[1.0, 0.0], [0.0, -2.0]]), np.zeros(2))
    >>> q.loss(np.array([1.0, 1.0])), [q.smoothness(n) for n in ("l1", "l2", "linf")]
    (-0.5, [2.0, 2.0, 3.0])
    """

    hessian: np.ndarray
    linear: np.ndarray

    def __post_init__(self) -> None:
        a = validation.finite_array("hessian", self.hessian, ndim=2)
        b = validation.finite_array("linear", self.linear, ndim=1)
        if a.shape != (b.size, b.size) or not np.array_equal(a, a.T):
            raise ValueError(f"hessian must be a symmetric d x d matrix and linear a d-vector, "
                             f"got shapes {a.shape} and {b.shape}")
        object.__setattr__(self, "hessian", a)
        object.__setattr__(self, "linear", b)

    @classmethod
    def random(cls, dim: int, rng: np.random.Generator) -> "IndefiniteQuadratic":
        """A symmetric Gaussian :math:`A=(G+G^\top)/2` (eigenvalues of both signs with
        overwhelming probability) and a Gaussian :math:`b`."""
        dim = validation.positive_int("dim", dim)
        g = rng.normal(size=(dim, dim))
        return cls((g + g.T) / 2, rng.normal(size=dim))

    @property
    def dim(self) -> int:
        return self.linear.size

    def loss(self, x) -> float:
        x = validation.vector("x", x, self.dim)
        return float(0.5 * x @ self.hessian @ x + self.linear @ x)

    def grad(self, x) -> np.ndarray:
        return self.hessian @ validation.vector("x", x, self.dim) + self.linear

    def smoothness(self, norm) -> float:
        """The exact smoothness constant w.r.t. ``"l1"``, ``"l2"`` or ``"linf"`` (see above)."""
        from .norms import get_norm

        p = get_norm(norm).p
        a = self.hessian
        if p == 2.0:
            return float(np.max(np.abs(np.linalg.eigvalsh(a))))
        if p == 1.0:
            return float(np.max(np.abs(a)))
        if p != np.inf:
            raise ValueError(f"norm must be 'l1', 'l2' or 'linf', got norm={norm!r}")
        from .problems import MAX_ENUMERATION_DIM, sign_vectors

        if self.dim > MAX_ENUMERATION_DIM:
            raise ValueError(f"the l_inf smoothness enumerates 2^(d-1) sign vectors, d <= "
                             f"{MAX_ENUMERATION_DIM}; got d = {self.dim}")
        return float(np.max(np.abs(sign_vectors(self.dim) @ a).sum(axis=1)))


def check_gradient(loss_fn, grad_fn, x, step: float = 1e-6) -> float:
    r"""Largest relative error between ``grad_fn(x)`` and central differences of ``loss_fn``:

    .. math::

        \frac{\max_i |D_i - \partial_i L(x)|}{\max(1, \|\nabla L(x)\|_\infty)},\qquad
        D_i = \frac{L(x + h e_i) - L(x - h e_i)}{2h},

    with :math:`h` = ``step`` (truncation error :math:`O(h^2)`, cancellation :math:`O(\epsilon/h)`:
    about 1e-10 at the default).  Written out rather than ``scipy.optimize.check_grad``, which
    returns the absolute 2-norm of the difference to *forward* differences with step
    :math:`\sqrt{\epsilon}\approx1.5\cdot10^{-8}`: about 1e-6 on this module's losses, four
    orders of magnitude above this check's 1e-10 and over the book's tolerance of 1e-6.

    >>> check_gradient(Rosenbrock(4).loss, Rosenbrock(4).grad, np.array([0.3, -0.2, 0.5, 0.1])) < 1e-6
    True
    """
    x = validation.finite_array("x", x, ndim=1)
    step = validation.positive_finite("step", step)
    eye = np.eye(x.size)
    numeric = np.array([(loss_fn(x + step * e) - loss_fn(x - step * e)) / (2 * step) for e in eye])
    analytic = np.asarray(grad_fn(x), dtype=float)
    return float(np.max(np.abs(numeric - analytic)) / max(1.0, float(np.max(np.abs(analytic)))))
