r"""Maximum normalized margins of linearly separable data, in any :math:`\ell_p` norm and for a
multiclass matrix :math:`W` in the entrywise max, Frobenius and spectral norms.

Binary data :math:`x_i\in\mathbb{R}^d`, :math:`y_i\in\{-1,+1\}`: the maximum normalized margin is

.. math::  \gamma^* = \max_{\|w\|\le1}\ \min_i\ y_i\langle x_i, w\rangle,

the direction to which, on separable logistic regression, gradient descent (:math:`\ell_2`) and
Adam / sign descent (:math:`\ell_\infty`) converge. It is the value of the program
:math:`\max\gamma` s.t. :math:`y_i\langle x_i,w\rangle\ge\gamma`, :math:`\|w\|\le1`: a linear
program for :math:`\ell_\infty` and :math:`\ell_1` (solved by SciPy's HiGHS), a second-order /
power-cone program otherwise (cvxpy with Clarabel). Dual view: for :math:`\gamma^*>0`,

.. math::  \gamma^* = 1\Big/\min\{\|w\| : y_i\langle x_i,w\rangle\ge1\ \forall i\},

since rescaling a feasible :math:`w` of the right-hand program by :math:`1/\|w\|` gives margin
:math:`1/\|w\|` (the hard-margin SVM for :math:`\ell_2`).

Multiclass data with labels :math:`y_i\in\{0,\dots,k-1\}` and :math:`W\in\mathbb{R}^{k\times d}`:

.. math::  \gamma^* = \max_{\|W\|\le1}\ \min_i\ \min_{c\ne y_i}\ (Wx_i)_{y_i}-(Wx_i)_c .

>>> import numpy as np
>>> X = np.array([[1.0, 2.0], [-1.0, -1.0]]); y = np.array([1, -1])
>>> result = max_margin(X, y, "linf")
>>> result.direction, round(result.margin, 9)
(array([1., 1.]), 2.0)
>>> round(normalized_margin(np.array([2.0, 2.0]), X, y, "linf"), 9)
2.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import validation
from .norms import LpNorm, get_norm

__all__ = ["MaxMargin", "max_margin", "max_margin_multiclass", "normalized_margin",
           "MULTICLASS_NORMS"]

#: The norms of :func:`max_margin_multiclass`, mapped to the package norm that measures them.
MULTICLASS_NORMS = {"max": "linf", "fro": "frobenius", "frobenius": "frobenius",
                    "spectral": "spectral"}

#: A margin at or below this (relative to the data's scale) means "not separable".
_SEPARABILITY_TOL = 1e-9


@dataclass(frozen=True)
class MaxMargin:
    r"""A maximum-margin classifier.

    * ``direction``: the maximiser :math:`w^*` (shape ``(d,)``) or :math:`W^*` (shape ``(k, d)``),
      with :math:`\|w^*\|=1` in ``norm``;
    * ``margin``: :math:`\gamma^*=\min_i y_i\langle x_i,w^*\rangle` (multiclass: the smallest
      score difference), recomputed from ``direction``, not read from the solver;
    * ``norm``: the norm's name (``"linf"``, ``"l2"``, ``"l1.5"``, ``"max"``, ``"fro"``, ...);
    * ``solver``: ``"highs"`` or ``"cvxpy"``.
    """

    direction: np.ndarray
    margin: float
    norm: str
    solver: str


# ----------------------------------------------------------------------------- validation

def _binary_data(X, y) -> tuple[np.ndarray, np.ndarray]:
    X = validation.finite_array("X", X, ndim=2)
    y = validation.finite_array("y", y, ndim=1)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have one label per row of X: X has shape {X.shape}, y {y.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must have at least one point and one feature, got shape {X.shape}")
    if not np.isin(y, (-1.0, 1.0)).all():
        raise ValueError(f"y must have labels in {{-1, +1}}, got values {np.unique(y)[:5]}")
    if np.unique(y).size < 2:
        raise ValueError(f"y must contain both classes -1 and +1, got only {y[0]:+g}")
    return X, y


def _multiclass_data(X, labels, num_classes) -> tuple[np.ndarray, np.ndarray, int]:
    X = validation.finite_array("X", X, ndim=2)
    raw = np.asarray(labels)
    if raw.ndim != 1 or raw.shape[0] != X.shape[0]:
        raise ValueError(f"labels must have shape ({X.shape[0]},) (one per row of X), "
                         f"got shape {raw.shape}")
    if raw.dtype.kind not in "iu" or raw.size == 0:
        raise ValueError(f"labels must be integers in [0, k), got dtype {raw.dtype}")
    k = int(raw.max()) + 1 if num_classes is None else validation.positive_int(
        "num_classes", num_classes)
    if raw.min() < 0 or raw.max() >= k:
        raise ValueError(f"labels must be integers in [0, {k}), got range "
                         f"[{raw.min()}, {raw.max()}]")
    if np.unique(raw).size < 2:
        raise ValueError(f"labels must contain at least two classes, got only {raw[0]}")
    return X, raw.astype(int), k


def _binary_norm(norm) -> LpNorm:
    norm = get_norm(norm)  # unknown names and p < 1 raise here
    if not isinstance(norm, LpNorm):
        raise ValueError(f"norm must be an l_p norm for binary data (a vector w), got {norm!r}")
    return norm


def _multiclass_norm(norm) -> str:
    key = norm.strip().lower() if isinstance(norm, str) else norm
    if key not in MULTICLASS_NORMS:
        raise ValueError(f"norm must be one of {sorted(MULTICLASS_NORMS)} for a multiclass W, "
                         f"got norm={norm!r}")
    return "fro" if key == "frobenius" else key


def _solver(solver: str, allowed: tuple[str, ...]) -> str:
    if solver not in allowed:
        raise ValueError(f"solver must be one of {allowed} for this norm, got solver={solver!r}")
    return solver


# ----------------------------------------------------------------------------- margins

def _constraint_rows(X, y) -> np.ndarray:
    r"""Rows :math:`a_i=y_ix_i`: the margin of :math:`w` is :math:`\min_i\langle a_i,w\rangle`."""
    return y[:, None] * X


def _multiclass_rows(X, labels, k) -> np.ndarray:
    r"""Matrices :math:`A_{ic}=(e_{y_i}-e_c)x_i^\top`, flattened, one per pair :math:`c\ne y_i`:
    :math:`(Wx_i)_{y_i}-(Wx_i)_c=\langle A_{ic},W\rangle`."""
    rows = []
    for x, label in zip(X, labels):
        for c in range(k):
            if c != label:
                a = np.zeros((k, X.shape[1]))
                a[label], a[c] = x, -x
                rows.append(a.ravel())
    return np.array(rows)


def _min_margin(rows: np.ndarray, w: np.ndarray) -> float:
    return float(np.min(rows @ w.ravel()))


def normalized_margin(w, X, y, norm) -> float:
    r"""The normalized margin :math:`\min_i y_i\langle x_i,w\rangle/\|w\|` of a vector ``w``
    (``y`` in :math:`\{-1,+1\}`, ``norm`` any :math:`\ell_p`), or, for a matrix ``w`` of shape
    ``(k, d)``, :math:`\min_i\min_{c\ne y_i}((Wx_i)_{y_i}-(Wx_i)_c)/\|W\|` with ``y`` integer
    labels in :math:`[0,k)` and ``norm`` one of ``"max"``, ``"fro"``, ``"spectral"``.

    It is scale invariant and at most the maximum margin of :func:`max_margin`.

    >>> import numpy as np
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> normalized_margin(W, np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 1]), "spectral")
    1.0
    """
    w = validation.finite_array("w", w)
    if w.ndim == 2:
        X, labels, k = _multiclass_data(X, y, w.shape[0])
        measure = get_norm(MULTICLASS_NORMS[_multiclass_norm(norm)])
        rows = _multiclass_rows(X, labels, k)
    elif w.ndim == 1:
        X, y = _binary_data(X, y)
        measure = _binary_norm(norm)
        rows = _constraint_rows(X, y)
    else:
        raise ValueError(f"w must be a vector (d,) or a matrix (k, d), got shape {w.shape}")
    if rows.shape[1] != w.size:
        raise ValueError(f"w has shape {w.shape}, which does not match X of shape {X.shape}")
    size = measure.value(w)
    if size == 0.0:
        raise ValueError("w must be nonzero: the normalized margin of w = 0 is undefined")
    return _min_margin(rows, w) / size


def _require_separable(gamma: float, rows: np.ndarray, w: np.ndarray, name: str) -> None:
    """Raise the one-line certificate: the optimal margin is <= 0, attained at these points."""
    scale = float(np.abs(rows).max())
    if gamma > _SEPARABILITY_TOL * max(scale, 1.0):
        return
    worst = np.flatnonzero(rows @ w.ravel() <= gamma + _SEPARABILITY_TOL * max(scale, 1.0))[:5]
    raise ValueError(f"data (X, {name}) are not linearly separable: the maximum margin over the "
                     f"unit ball is {gamma:.3g} <= 0 (attained by constraint row(s) "
                     f"{worst.tolist()})")


def _linprog(c, A_ub, b_ub, bounds):
    from scipy.optimize import linprog

    result = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if result.status != 0:
        raise RuntimeError(f"HiGHS failed: {result.message}")
    return result.x


def _lp_linf(rows: np.ndarray) -> np.ndarray:
    r"""LP for the :math:`\ell_\infty` ball: :math:`\max\gamma` s.t.
    :math:`\gamma-\langle a_i,w\rangle\le0`, :math:`-1\le w_j\le1`, :math:`\gamma` free."""
    n, d = rows.shape
    c = np.r_[np.zeros(d), -1.0]
    A_ub = np.hstack([-rows, np.ones((n, 1))])
    solution = _linprog(c, A_ub, np.zeros(n), [(-1.0, 1.0)] * d + [(None, None)])
    return solution[:d]


def _lp_l1(rows: np.ndarray) -> np.ndarray:
    r"""LP for the :math:`\ell_1` ball with :math:`w=w^+-w^-`, :math:`w^\pm\ge0`:
    :math:`\max\gamma` s.t. :math:`\gamma-\langle a_i,w^+-w^-\rangle\le0`,
    :math:`\sum_j w^+_j+w^-_j\le1`."""
    n, d = rows.shape
    c = np.r_[np.zeros(2 * d), -1.0]
    A_ub = np.vstack([np.hstack([-rows, rows, np.ones((n, 1))]),
                      np.r_[np.ones(2 * d), 0.0][None, :]])
    b_ub = np.r_[np.zeros(n), 1.0]
    solution = _linprog(c, A_ub, b_ub, [(0.0, None)] * (2 * d) + [(None, None)])
    return solution[:d] - solution[d:2 * d]


def _cvxpy_margin(rows: np.ndarray, shape, atom) -> np.ndarray:
    r"""Conic program :math:`\max\gamma` s.t. :math:`\langle a_i,w\rangle\ge\gamma`,
    ``atom(w) <= 1`` (Clarabel)."""
    import cvxpy as cp

    w, gamma = cp.Variable(shape), cp.Variable()
    flat = cp.vec(w, order="C") if len(shape) == 2 else w
    program = cp.Problem(cp.Maximize(gamma), [rows @ flat >= gamma, atom(w) <= 1])
    program.solve(solver="CLARABEL")
    if program.status != cp.OPTIMAL or w.value is None:
        raise RuntimeError(f"cvxpy (Clarabel) did not reach an optimum: status {program.status!r}")
    return np.asarray(w.value, dtype=float)


def _p_atom(p: float):
    import cvxpy as cp

    return lambda w: cp.norm(w, "inf" if math.isinf(p) else p)


def _finish(rows, direction, measure, name: str, label: str, solver: str) -> MaxMargin:
    """Rescale onto the unit sphere (the solver's point has norm <= 1 up to round-off) and
    recompute the margin from the direction, so both are exactly consistent."""
    size = measure.value(direction)
    gamma = _min_margin(rows, direction) / size if size > 0 else 0.0
    _require_separable(gamma, rows, direction, label)
    direction = direction / size
    return MaxMargin(direction=direction, margin=_min_margin(rows, direction), norm=name,
                     solver=solver)


def max_margin(X, y, norm="linf", *, solver: str | None = None) -> MaxMargin:
    r"""The maximum normalized margin :math:`\gamma^*=\max_{\|w\|_p\le1}\min_iy_i\langle
    x_i,w\rangle` of binary data and a maximiser.

    Programs (variables :math:`w\in\mathbb{R}^d`, :math:`\gamma\in\mathbb{R}`; :math:`a_i=y_ix_i`):

    * :math:`p=\infty` (LP, HiGHS): :math:`\max\gamma` s.t. :math:`\langle a_i,w\rangle\ge\gamma`,
      :math:`-1\le w_j\le1`;
    * :math:`p=1` (LP, HiGHS): the same with :math:`w=w^+-w^-`, :math:`w^\pm\ge0`,
      :math:`\mathbf 1^\top(w^++w^-)\le1`;
    * other :math:`p` (cvxpy, Clarabel): :math:`\max\gamma` s.t.
      :math:`\langle a_i,w\rangle\ge\gamma`, :math:`\|w\|_p\le1` (an SOCP for :math:`p=2`).

    Dual view: :math:`\gamma^*=1/\min\{\|w\|_p: y_i\langle x_i,w\rangle\ge1\}` when the data are
    separable.

    Args:
        X: points, shape ``(n, d)``, finite.
        y: labels in :math:`\{-1,+1\}`, shape ``(n,)``, both classes present.
        norm: ``"linf"``, ``"l2"``, ``"l1"``, ``"l<p>"`` or a number :math:`p\ge1`.
        solver: ``"highs"`` (default for :math:`\ell_\infty`, :math:`\ell_1`) or ``"cvxpy"``
            (default otherwise; also accepted for :math:`\ell_\infty`, :math:`\ell_1`).

    Raises:
        ValueError: for bad shapes, non-finite X, labels outside :math:`\{-1,+1\}`, one class, an
            unknown norm or :math:`p<1`, and for data that are not separable (the message gives
            the optimal margin :math:`\le0` and the rows attaining it).

    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0], [-1.0, -1.0]]); y = np.array([1, -1])
    >>> round(max_margin(X, y, "l2").margin, 6), round(max_margin(X, y, "l1").margin, 6)
    (1.414214, 1.0)
    """
    X, y = _binary_data(X, y)
    measure = _binary_norm(norm)
    rows = _constraint_rows(X, y)
    is_lp = measure.p in (1.0, math.inf)
    solver = _solver(solver or ("highs" if is_lp else "cvxpy"),
                     ("highs", "cvxpy") if is_lp else ("cvxpy",))
    if solver == "highs":
        direction = _lp_linf(rows) if math.isinf(measure.p) else _lp_l1(rows)
    else:
        direction = _cvxpy_margin(rows, (X.shape[1],), _p_atom(measure.p))
    return _finish(rows, direction, measure, measure.name, "y", solver)


def _entrywise_atom(p: float):
    import cvxpy as cp

    # cp.norm of a matrix is an operator norm for p = inf: take the norm of its entries instead
    return lambda W: cp.norm(cp.vec(W, order="C"), "inf" if math.isinf(p) else p)


def _spectral_atom(W):
    import cvxpy as cp

    return cp.sigma_max(W)


def max_margin_multiclass(X, labels, norm="max", *, num_classes: int | None = None,
                          solver: str | None = None) -> MaxMargin:
    r"""The maximum multiclass margin :math:`\gamma^*=\max_{\|W\|\le1}\min_i\min_{c\ne y_i}
    (Wx_i)_{y_i}-(Wx_i)_c` over :math:`W\in\mathbb{R}^{k\times d}`, and a maximiser.

    With :math:`A_{ic}=(e_{y_i}-e_c)x_i^\top` the score difference is
    :math:`\langle A_{ic},W\rangle`, so the program is :math:`\max\gamma` s.t.
    :math:`\langle A_{ic},W\rangle\ge\gamma` for all :math:`i`, :math:`c\ne y_i`, and

    * ``"max"`` (entrywise :math:`\max_{cj}|W_{cj}|\le1`): an LP (HiGHS, or cvxpy);
    * ``"fro"`` (:math:`\|W\|_F\le1`): an SOCP (cvxpy, Clarabel);
    * ``"spectral"`` (:math:`\sigma_{\max}(W)\le1`): an SDP (cvxpy ``sigma_max``, Clarabel).

    For :math:`k=2` it reduces to the binary margin of :math:`u=w_1-w_0` with
    :math:`y=2\,\mathrm{label}-1`: ``"max"`` gives :math:`2\gamma^*_\infty`, ``"fro"`` and
    ``"spectral"`` give :math:`\sqrt2\,\gamma^*_2` (the optimum is :math:`W=(-u,u)/2`).

    Args:
        X: points, shape ``(n, d)``, finite.
        labels: integers in :math:`[0,k)`, shape ``(n,)``, at least two classes present.
        norm: ``"max"``, ``"fro"`` (alias ``"frobenius"``) or ``"spectral"``.
        num_classes: :math:`k` (default ``labels.max() + 1``).
        solver: ``"highs"`` (default for ``"max"``) or ``"cvxpy"``.

    >>> import numpy as np
    >>> X = np.eye(2); labels = np.array([0, 1])
    >>> round(max_margin_multiclass(X, labels, "max").margin, 9)
    2.0
    """
    X, labels, k = _multiclass_data(X, labels, num_classes)
    name = _multiclass_norm(norm)
    measure = get_norm(MULTICLASS_NORMS[name])
    rows = _multiclass_rows(X, labels, k)
    shape = (k, X.shape[1])
    solver = _solver(solver or ("highs" if name == "max" else "cvxpy"),
                     ("highs", "cvxpy") if name == "max" else ("cvxpy",))
    if solver == "highs":
        direction = _lp_linf(rows).reshape(shape)
    else:
        atom = {"max": _entrywise_atom(math.inf), "fro": _entrywise_atom(2.0),
                "spectral": _spectral_atom}[name]
        direction = _cvxpy_margin(rows, shape, atom)
    return _finish(rows, direction, measure, name, "labels", solver)
