r"""Linearly separable classification: data, the multiclass cross-entropy, margins along a run, and
the margin of the 1/λ box (book chapter ``ch-margins``).

On separable data the loss has no minimiser: it tends to 0 along every separating direction, and
*which* direction an optimizer's :math:`x_t/\|x_t\|` tends to is its implicit bias. Without weight
decay that direction is a maximum-margin classifier (:mod:`implicit_bias.margins`); with decoupled
weight decay :math:`\lambda` the paper's Theorem 1.1 puts AdamW at the minimiser of the loss in the
box :math:`\|x\|_\infty\le1/\lambda`, whose normalized :math:`\ell_\infty` margin is within
:func:`box_margin_gap` of the maximum (the derivation is in the chapter).

* binary data :math:`x_i\in\mathbb{R}^d`, :math:`y_i\in\{\pm1\}`: the logistic loss is
  :class:`~implicit_bias.problems.LogisticRegression`; :func:`separable_binary` draws data;
* multiclass data with labels in :math:`[0,k)` and :math:`W\in\mathbb{R}^{k\times d}`:
  :class:`SoftmaxRegression` (cross-entropy), :func:`separable_multiclass` draws data;
* :func:`margin_path`: the normalized margin :math:`\gamma(x_t)` of every iterate of a run;
* per-sample (incremental) training: :class:`CyclicBatchGradient` is a gradient oracle that
  returns the logistic loss gradient of the next mini-batch in a fixed cyclic order, so every
  full-batch runner of the package becomes its incremental version, and
  :func:`equal_magnitude_binary` draws data on which incremental Adam is an ℓ2 method.

>>> import numpy as np
>>> X, y = separable_binary(20, 3, np.random.default_rng(0))
>>> X.shape[1], set(y.tolist()) == {-1.0, 1.0}
(3, True)
>>> round(box_margin_gap(0.01, 20), 4)
0.0369
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp, softmax

from . import validation
from .margins import _binary_data, _multiclass_data, normalized_margin
from .problems import LogisticRegression

__all__ = ["separable_binary", "separable_multiclass", "SoftmaxRegression", "margin_path",
           "box_margin_gap", "box_margin_max_decay", "equal_magnitude_binary",
           "CyclicBatchGradient"]


def separable_binary(n_samples: int, dim: int, rng: np.random.Generator,
                     gap: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    r"""Gaussian points labelled by a random teacher :math:`u`, keeping only those with
    :math:`|\langle u,x\rangle|\ge` ``gap`` times the score's standard deviation: separable by
    :math:`u` with a positive margin.  Returns ``(X, y)`` with about ``n_samples`` times
    :math:`P(|z|\ge\text{gap})`, :math:`z\sim\mathcal N(0,1)`, rows, ``y`` in
    :math:`\{\pm1\}` as floats; both classes are present."""
    n_samples = validation.positive_int("n_samples", n_samples)
    dim = validation.positive_int("dim", dim)
    gap = validation.nonneg_finite("gap", gap)
    X = rng.normal(size=(n_samples, dim))
    scores = X @ rng.normal(size=dim)
    keep = np.abs(scores) >= gap * scores.std()
    X, y = X[keep], np.sign(scores[keep])
    if np.unique(y).size < 2:
        raise ValueError(f"the draw kept {y.size} point(s) of one class only: raise n_samples "
                         f"(got {n_samples}) or lower gap (got {gap})")
    return X, y


def separable_multiclass(per_class: int, dim: int, num_classes: int, rng: np.random.Generator,
                         spread: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    r"""``per_class`` points around each of ``num_classes`` Gaussian means
    :math:`\mu_c\sim\mathcal N(0,I_d)`, with noise :math:`\mathcal N(0,\text{spread}^2I_d)`.
    Returns ``(X, labels)`` with integer labels in :math:`[0,k)`; separability is not guaranteed
    for a large ``spread`` (:func:`~implicit_bias.margins.max_margin_multiclass` says so)."""
    per_class = validation.positive_int("per_class", per_class)
    dim = validation.positive_int("dim", dim)
    k = validation.positive_int("num_classes", num_classes)
    if k < 2:
        raise ValueError(f"num_classes must be at least 2, got num_classes={num_classes}")
    spread = validation.nonneg_finite("spread", spread)
    means = rng.normal(size=(k, dim))
    X = np.concatenate([means[c] + spread * rng.normal(size=(per_class, dim)) for c in range(k)])
    return X, np.repeat(np.arange(k), per_class)


class SoftmaxRegression:
    r"""Average cross-entropy of a linear multiclass model :math:`W\in\mathbb{R}^{k\times d}`:

    .. math::

        L(W)=\frac1n\sum_{i=1}^n\Big(\log\sum_{c}e^{(Wx_i)_c}-(Wx_i)_{y_i}\Big),

    .. math::

        \nabla L(W)=\frac1n\big(\operatorname{softmax}(XW^\top)-Y\big)^\top X,

    with :math:`Y` the one-hot labels.  :math:`L` is convex, positive, and tends to 0 along every
    :math:`W` that separates the data (every score difference
    :math:`(Wx_i)_{y_i}-(Wx_i)_c>0`).

    >>> problem = SoftmaxRegression(np.eye(2), np.array([0, 1]))
    >>> round(problem.loss(np.zeros((2, 2))), 6), problem.grad(np.zeros((2, 2))).tolist()
    (0.693147, [[-0.25, 0.25], [0.25, -0.25]])
    """

    def __init__(self, features, labels, num_classes: int | None = None):
        # the same checks (and messages) as the max-margin programs, which take the same data
        X, labels, k = _multiclass_data(features, labels, num_classes)
        self.features, self.labels, self.num_classes = X, labels, k
        self._one_hot = np.eye(k)[self.labels]

    @property
    def shape(self) -> tuple[int, int]:
        """The shape :math:`(k, d)` of :math:`W`."""
        return self.num_classes, self.features.shape[1]

    def _scores(self, W) -> np.ndarray:
        W = validation.finite_array("W", W)
        if W.shape != self.shape:
            raise ValueError(f"W must have shape {self.shape}, got {W.shape}")
        return self.features @ W.T

    def loss(self, W) -> float:
        """:math:`L(W)`, evaluated stably with ``logsumexp``."""
        scores = self._scores(W)
        picked = scores[np.arange(scores.shape[0]), self.labels]
        return float(np.mean(logsumexp(scores, axis=1) - picked))

    def grad(self, W) -> np.ndarray:
        r""":math:`\nabla L(W)`, shape :math:`(k, d)`."""
        scores = self._scores(W)
        return (softmax(scores, axis=1) - self._one_hot).T @ self.features / scores.shape[0]


def margin_path(xs, X, y, norm, steps=None) -> np.ndarray:
    r"""The normalized margin :math:`\gamma(x_t)=\min_iy_i\langle x_i,x_t\rangle/\|x_t\|` (or the
    multiclass one for matrices) of the iterates ``xs[t]`` at ``steps`` (default: all), by
    :func:`~implicit_bias.margins.normalized_margin`; ``nan`` where :math:`x_t=0`, whose margin is
    undefined (a run started at the origin)."""
    xs = validation.finite_array("xs", xs)
    steps = np.arange(xs.shape[0]) if steps is None else np.asarray(steps, dtype=int)
    out = np.full(steps.shape, np.nan)
    for j, t in enumerate(steps):
        if np.any(xs[t]):
            out[j] = normalized_margin(xs[t], X, y, norm)
    return out


def box_margin_max_decay(max_margin: float, n_samples: int) -> float:
    r"""The largest :math:`\lambda` for which :func:`box_margin_gap` holds:
    :math:`\gamma^*/\ln(n/\ln2)` (strictly below it; for :math:`n\le1` any :math:`\lambda`)."""
    gamma = validation.positive_finite("max_margin", max_margin)
    n = validation.positive_int("n_samples", n_samples)
    return math.inf if n <= 1 else gamma / math.log(n / math.log(2.0))


def box_margin_gap(weight_decay: float, n_samples: int) -> float:
    r"""The bound :math:`\gamma^*_\infty-\gamma_\infty(x)\le\lambda\ln(2n)` of the chapter's
    proposition, for any :math:`x` with :math:`\|x\|_\infty\le1/\lambda` and a logistic loss
    :math:`L(x)\le L(w^*/\lambda)` (in particular the minimiser in the box), valid for
    :math:`\lambda<` :func:`box_margin_max_decay`."""
    lam = validation.positive_finite("weight_decay", weight_decay)
    return lam * math.log(2.0 * validation.positive_int("n_samples", n_samples))


def equal_magnitude_binary(n_samples: int, dim: int, rng: np.random.Generator,
                           scale_range=(0.5, 1.5)) -> tuple[np.ndarray, np.ndarray]:
    r"""Points :math:`x_i=r_is_i` with signs :math:`s_i\in\{\pm1\}^d` and one magnitude
    :math:`r_i\sim U(\text{scale\_range})` per point, labelled by a random Gaussian teacher
    :math:`u` (:math:`y_i=\operatorname{sign}\langle u,x_i\rangle`; separable by :math:`u`).

    Every coordinate of a point has the same magnitude, so a per-sample gradient
    :math:`g=-\sigma(-y_i\langle x_i,w\rangle)\,y_ix_i` has :math:`g_j^2=\sigma^2r_i^2` for all
    :math:`j`: Adam's second moment, fed one sample per step, is the same in every coordinate and
    its step is a scalar multiple of its momentum (the chapter's proposition).  Redrawn until
    both classes are present and no score is 0."""
    n_samples = validation.positive_int("n_samples", n_samples)
    dim = validation.positive_int("dim", dim)
    low, high = (validation.positive_finite("scale_range", float(v)) for v in scale_range)
    if low > high:
        raise ValueError(f"scale_range must be (low, high) with low <= high, got {scale_range}")
    for _ in range(100):
        X = rng.choice([-1.0, 1.0], size=(n_samples, dim)) * rng.uniform(low, high, (n_samples, 1))
        scores = X @ rng.normal(size=dim)
        y = np.sign(scores)
        if np.all(scores != 0) and np.unique(y).size == 2:
            return X, y
    raise ValueError(f"100 draws of {n_samples} point(s) never held both classes: raise n_samples")


class CyclicBatchGradient:
    r"""Gradient oracle :math:`x\mapsto\nabla L_{B_t}(x)` of the logistic loss on mini-batch
    :math:`B_t`, the batches taken in a fixed cyclic order (call :math:`t` uses batch
    :math:`(t-1)\bmod(n/b)`).

    With ``batch_size = 1`` a full-batch runner fed this oracle is the *incremental* method
    (one sample per step, as in Baek, Song & Yun, 2025); with ``batch_size = n`` it is the
    full-batch gradient again.  Each call advances the cycle, so use one oracle per run.

    Args:
        X: features, ``n x d``; y: labels in :math:`\{\pm1\}`.
        batch_size: :math:`b`, a divisor of :math:`n` (so every epoch sees every sample once).

    >>> X, y = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1.0, -1.0])
    >>> oracle = CyclicBatchGradient(X, y, batch_size=1)
    >>> oracle(np.zeros(2)), oracle(np.zeros(2)), oracle.calls
    (array([-0.5,  0. ]), array([0. , 0.5]), 2)
    """

    def __init__(self, X, y, batch_size: int = 1):
        X, y = _binary_data(X, y)
        b = validation.positive_int("batch_size", batch_size)
        if X.shape[0] % b:
            raise ValueError(f"batch_size={b} is invalid: must divide the number of samples "
                             f"{X.shape[0]}, so that every epoch sees each sample once")
        self.batches = [LogisticRegression(X[i:i + b], y[i:i + b])
                        for i in range(0, X.shape[0], b)]
        self.calls = 0

    def __call__(self, x) -> np.ndarray:
        batch = self.batches[self.calls % len(self.batches)]
        self.calls += 1
        return batch.grad(x)
