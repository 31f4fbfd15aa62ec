r"""Argument checks shared by every public function of the package.

Each check returns the cleaned value (a Python ``float``, a pair of floats or a float64 array) or
raises a :class:`ValueError` whose message names the parameter and the range it must lie in, so
that a caller sees *which* argument is wrong and *why*, instead of a silently broadcast or NaN
result.  Keeping them in one place keeps the messages, and the ranges, the same everywhere.

>>> nonneg_finite("lr", 0.1)
0.1
>>> betas((0.9, 0.999), ordered=True)
(0.9, 0.999)
>>> decay_factor(0.1, 2.0)
0.8
>>> decay_factor(1.0, 2.0)  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
ValueError: lr * weight_decay must be <= 1 (...): the decay factor 1 - lr * weight_decay would be negative, ...
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["real", "finite", "nonneg_finite", "positive_finite", "unit_interval", "betas",
           "decay_factor", "decay_flips_sign", "positive_int", "nonneg_int", "finite_array", "vector", "same_shape",
           "point_and_gradient"]


def real(name: str, value) -> float:
    """``value`` as a Python float; a tensor, string, bool or array raises (no silent casts)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if not (isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiu"):
            raise ValueError(f"{name} must be a real number, got {name}={value!r}")
    return float(value)


def finite(name: str, value) -> float:
    """A finite real number (any sign)."""
    value = real(name, value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {name}={value!r}")
    return value


def nonneg_finite(name: str, value) -> float:
    """A finite number :math:`\\ge 0` (learning rates, weight decay, :math:`\\epsilon`, radii)."""
    value = real(name, value)
    if not (value >= 0.0 and math.isfinite(value)):
        raise ValueError(f"{name} must be finite and >= 0, got {name}={value!r}")
    return value


def positive_finite(name: str, value, why: str = "") -> float:
    """A finite number :math:`> 0`; ``why`` is appended to the message (e.g. the radius 1/λ)."""
    value = real(name, value)
    if not (value > 0.0 and math.isfinite(value)):
        raise ValueError(f"{name} must be finite and > 0{why}, got {name}={value!r}")
    return value


def unit_interval(name: str, value, *, closed: bool = False) -> float:
    """A number in :math:`[0, 1)` (a β of Adam), or in :math:`[0, 1]` with ``closed=True``
    (a Frank--Wolfe step size)."""
    value = real(name, value)
    inside = 0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0
    if not inside:
        interval = "[0, 1]" if closed else "[0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {name}={value!r}")
    return value


def in_range(name: str, value, lo: float, hi: float) -> float:
    r"""A finite number in :math:`[lo, hi]` (a slider's range).

    >>> in_range("lr", 0.01, 1e-3, 0.1)
    0.01
    >>> in_range("lr", 1.0, 1e-3, 0.1)
    Traceback (most recent call last):
    ValueError: lr must lie in [0.001, 0.1], got lr=1.0
    """
    value = finite(name, value)
    if not lo <= value <= hi:
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got {name}={value!r}")
    return value


def betas(pair, *, ordered: bool = False) -> tuple[float, float]:
    r"""Adam's :math:`(\beta_1, \beta_2)\in[0,1)^2`; ``ordered=True`` also requires
    :math:`\beta_1\le\beta_2`, the hypothesis of Lemma 4.2 and Theorem 1.1."""
    try:
        beta1, beta2 = pair
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair (beta1, beta2), got betas={pair!r}") from None
    beta1, beta2 = unit_interval("beta1", beta1), unit_interval("beta2", beta2)
    if ordered and not beta1 <= beta2:
        raise ValueError(f"Lemma 4.2 needs 0 <= beta1 <= beta2, got beta1={beta1!r}, beta2={beta2!r}")
    return beta1, beta2


def decay_flips_sign(lr: float, weight_decay: float) -> bool:
    r""":math:`\lambda\eta>1`: the one home of the rule that :func:`decay_factor` enforces and the
    monitor (which must not raise inside a training loop) reports.

    >>> decay_flips_sign(0.5, 2.0), decay_flips_sign(0.6, 2.0)
    (False, True)
    """
    return lr * weight_decay > 1.0


def decay_factor(lr, weight_decay) -> float:
    r"""The decoupled weight-decay factor :math:`1-\lambda\eta` of Eq. (1) and Algorithm 1, after
    checking :math:`\eta\ge0`, :math:`\lambda\ge0` and :math:`\lambda\eta\le1`.

    Why the last one: for :math:`\lambda\eta>1` the factor is negative, so the decay no longer
    shrinks :math:`x` towards 0 but flips its sign every step, and none of the paper's results
    (Lemma 3.1, Theorem 3.2, Theorem 1.1) apply.
    """
    lr, weight_decay = nonneg_finite("lr", lr), nonneg_finite("weight_decay", weight_decay)
    product = lr * weight_decay
    if decay_flips_sign(lr, weight_decay):
        raise ValueError(
            f"lr * weight_decay must be <= 1 (got lr={lr!r}, weight_decay={weight_decay!r}, "
            f"product {product!r}): the decay factor 1 - lr * weight_decay would be negative, so "
            f"each step would flip the sign of the weights instead of shrinking them")
    return 1.0 - product


def nonneg_int(name: str, value) -> int:
    r"""An integer :math:`\ge 0` (a number of steps)."""
    return _integer(name, value, 0)


def positive_int(name: str, value) -> int:
    r"""An integer :math:`\ge 1` (a dimension)."""
    return _integer(name, value, 1)


def int_in_range(name: str, value, lo: int, hi: int) -> int:
    """An integer in ``[lo, hi]`` (a number of steps with a ceiling).

    >>> int_in_range("steps", 5, 10, 2000)
    Traceback (most recent call last):
    ValueError: steps must be an integer in [10, 2000], got steps=5
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {name}={value!r}")
    return int(value)


def _integer(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")
    return int(value)


def _is_tensor(value) -> bool:
    # duck-typed, so that this module (read by torch-free code) never imports torch
    return type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach")


def _from_torch(value):
    """A torch tensor (any dtype or device, with or without ``requires_grad``) as a float64 NumPy
    array of its shape; tensors given together (a list, or a model's ``parameters()``) as the
    float64 concatenation of their entries, the vector x of the paper. Anything else unchanged."""
    if _is_tensor(value):
        return value.detach().cpu().double().numpy()
    if hasattr(value, "__next__"):  # a generator such as model.parameters(): read it once
        value = list(value)
    if isinstance(value, (list, tuple)) and value and all(_is_tensor(v) for v in value):
        return np.concatenate([v.detach().cpu().double().reshape(-1).numpy() for v in value])
    return value


def finite_array(name: str, value, *, ndim: int | None = None, min_ndim: int = 0,
                 nonneg: bool = False) -> np.ndarray:
    """``value`` as a float64 array whose entries are all finite (and :math:`\\ge0` if
    ``nonneg``), with exactly ``ndim`` or at least ``min_ndim`` dimensions.  Torch tensors and
    lists of tensors (a model's parameters) are accepted (see ``_from_torch``)."""
    if isinstance(value, np.ndarray) and value.dtype == np.float64:
        array = value  # the common case, on the hot path of every runner: no conversion
    else:
        try:
            array = np.asarray(_from_torch(value), dtype=float)
        except (TypeError, ValueError):
            raise ValueError(
                f"{name} must be an array of real numbers, got {name}={value!r}") from None
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    if array.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite (found nan or inf)")
    if nonneg and (array < 0).any():
        raise ValueError(f"{name} must be >= 0 entrywise")
    return array


def vector(name: str, value, dim: int, *, batch: bool = False) -> np.ndarray:
    r"""A finite point of :math:`\mathbb{R}^{d}` (a loss's argument: another length would broadcast
    silently against the problem's data); ``batch=True`` also accepts a stack of points, shape
    ``(..., d)``, for losses that act on the last axis."""
    array = finite_array(name, value, min_ndim=1) if batch else finite_array(name, value, ndim=1)
    if array.shape[-1:] != (dim,):
        shape = f"(..., {dim})" if batch else f"({dim},)"
        raise ValueError(f"{name} must have shape {shape}, got shape {array.shape}")
    return array


def same_shape(**arrays: np.ndarray) -> None:
    """Raise unless all the named arrays have one shape (no silent broadcasting)."""
    shapes = {name: np.shape(a) for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = " and ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"{', '.join(shapes)} must have the same shape, got {listed}")


def point_and_gradient(x, grad) -> tuple[np.ndarray, np.ndarray]:
    """A point and a gradient at it: finite float arrays of one shape (a ``(3,)`` point with a
    ``(3, 1)`` gradient would otherwise broadcast to a ``(3, 3)`` "iterate")."""
    x, grad = finite_array("x", x), finite_array("grad", grad)
    same_shape(x=x, grad=grad)
    return x, grad
