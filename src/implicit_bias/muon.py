r"""The implicit spectral-norm radius of ``torch.optim.Muon`` (book chapter ``ch-many-optimizers``).

``torch.optim.Muon`` (PyTorch 2.13) updates each 2-D parameter :math:`W\in\mathbb{R}^{A\times B}` as

.. math::

    B_t = \mu B_{t-1} + (1-\mu) g_t,

    \tilde B_t = (1-\mu) g_t + \mu B_t \ (\text{nesterov}) \text{ or } B_t,

    W_t = (1-\gamma\lambda)W_{t-1} - \gamma\, s\, O_t,\qquad O_t = \mathrm{NS}(\tilde B_t),

where NS divides by the Frobenius norm (so every singular value lies in :math:`[0, 1]`) and then
applies the odd quintic :math:`p(x) = ax + bx^3 + cx^5` to the singular values ``ns_steps``
times (in bfloat16), and :math:`s` is the learning-rate adjustment: :math:`\sqrt{\max(1, A/B)}`
(``adjust_lr_fn=None``/``"original"``) or :math:`0.2\sqrt{\max(A, B)}` (``"match_rms_adamw"``).
The decay uses the *unadjusted* :math:`\gamma`.  Since :math:`\|O_t\|_{op}\le c :=
\sup_{x\in[0,1]}|p^{\circ k}(x)|`, Lemma 3.1 (with the update bound :math:`sc` in place of 1)
gives :math:`\|W_t\|_{op}\le s\,c/\lambda` after a transient: :func:`muon_radius`.

>>> round(ns_sup(), 4)
1.2024
>>> muon_lr_scale((256, 64)), muon_lr_scale((64, 256), "match_rms_adamw")
(2.0, 3.2)
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from . import validation

__all__ = ["NS_COEFFICIENTS", "NS_STEPS", "ns_polynomial", "ns_sup", "muon_lr_scale",
           "muon_radius", "muon_limit_singular_values"]

#: torch.optim.Muon's defaults (Keller Jordan's quintic), ``torch/optim/_muon.py``.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5


def ns_polynomial(x, coefficients=NS_COEFFICIENTS, steps: int = NS_STEPS) -> np.ndarray:
    r"""The scalar map :math:`p^{\circ k}(x)`, :math:`p(x) = ax+bx^3+cx^5`, that Newton--Schulz
    applies to each singular value (in exact float64 arithmetic).

    >>> float(ns_polynomial(1.0).round(4))
    0.6964
    """
    a, b, c = (validation.finite("coefficient", v) for v in coefficients)
    steps = validation.nonneg_int("steps", steps)
    y = np.asarray(x, dtype=float)
    for _ in range(steps):
        y = a * y + b * y ** 3 + c * y ** 5
    return y


def ns_sup(coefficients=NS_COEFFICIENTS, steps: int = NS_STEPS, grid: int = 200_001) -> float:
    r""":math:`c = \sup_{x\in[0,1]}|p^{\circ k}(x)|`, the largest singular value Newton--Schulz can
    output, by a dense grid on :math:`[0, 1]` (geometric near 0, where the maximiser of the
    default coefficients lies, :math:`x\approx0.004`) refined by
    ``scipy.optimize.minimize_scalar(method="bounded")`` (Brent's method) on the bracket
    :math:`[x_{i-1}, x_{i+1}]` around the best grid point :math:`x_i`.  The grid spacing makes
    the refinement exact to about 1e-12; the result is never below the grid maximum."""
    grid = validation.positive_int("grid", grid)
    xs = np.unique(np.concatenate([np.linspace(0.0, 1.0, grid), np.geomspace(1e-9, 1.0, grid)]))
    vals = np.abs(ns_polynomial(xs, coefficients, steps))
    i = int(np.argmax(vals))
    bracket = (xs[max(i - 1, 0)], xs[min(i + 1, xs.size - 1)])
    refined = optimize.minimize_scalar(
        lambda x: -abs(float(ns_polynomial(x, coefficients, steps))),
        bounds=bracket, method="bounded", options={"xatol": 1e-15})
    return max(float(vals[i]), -float(refined.fun))


def muon_lr_scale(shape, adjust_lr_fn: "str | None" = None) -> float:
    r"""torch's learning-rate adjustment :math:`s` for a parameter of shape :math:`(A, B)`:
    :math:`\sqrt{\max(1, A/B)}` (``None``/``"original"``) or :math:`0.2\sqrt{\max(A,B)}`
    (``"match_rms_adamw"``), as in ``torch.optim._muon._adjust_lr``."""
    a, b = (validation.positive_int("shape", int(n)) for n in tuple(shape)[:2])
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return math.sqrt(max(1.0, a / b))
    if adjust_lr_fn == "match_rms_adamw":
        return 0.2 * math.sqrt(max(a, b))
    raise ValueError(f"adjust_lr_fn must be None, 'original' or 'match_rms_adamw', "
                     f"got {adjust_lr_fn!r}")


def muon_radius(shape, weight_decay: float, adjust_lr_fn: "str | None" = None,
                coefficients=NS_COEFFICIENTS, steps: int = NS_STEPS) -> float:
    r"""The spectral-norm radius :math:`s\,c/\lambda` that ``torch.optim.Muon`` with decoupled
    weight decay :math:`\lambda` keeps a parameter of this ``shape`` in, after a transient
    (Lemma 3.1 with the update bound :math:`\|sO_t\|_{op}\le sc`).  Exact arithmetic; torch's
    bfloat16 Newton--Schulz adds a rounding error of about 1% (measured in the book and tests).

    >>> round(muon_radius((64, 64), 1.0), 4)
    1.2024
    """
    weight_decay = validation.positive_finite("weight_decay", weight_decay)
    return muon_lr_scale(shape, adjust_lr_fn) * ns_sup(coefficients, steps) / weight_decay


def muon_limit_singular_values(target_singular_values, scale: float, weight_decay: float,
                               steps: int = 20_000, coefficients=NS_COEFFICIENTS,
                               ns_steps: int = NS_STEPS) -> np.ndarray:
    r"""The limit of Muon on :math:`\tfrac12\|W-A\|_F^2` from :math:`W_0 = 0` (exact arithmetic,
    momentum converged), in the singular basis of :math:`A = U\operatorname{diag}(a)V^\top`.

    The iterates keep :math:`A`'s singular vectors, :math:`W_t = U\operatorname{diag}(w_t)V^\top`,
    and the Newton--Schulz map acts on the singular values of :math:`G = W - A` one by one, so the
    fixed point solves :math:`\lambda w_i = s\,p^{\circ k}\big((a_i - w_i)/\|a - w\|_2\big)`.
    It is found by running that scalar recursion with :math:`\eta_t = 2/(\lambda(t+2))` (as
    Frank--Wolfe), ``steps`` times.  With an exact polar factor (:math:`p^{\circ k}\equiv1` on
    :math:`(0,1]`) the answer would be :math:`\min(a_i, s/\lambda)`: the clipped SVD.

    >>> w = muon_limit_singular_values([3.0, 0.5], 1.0, 1.0)
    >>> bool(np.all(w < [3.0, 0.5]))
    True
    """
    a = validation.finite_array("target_singular_values", target_singular_values, ndim=1,
                                nonneg=True)
    scale = validation.positive_finite("scale", scale)
    weight_decay = validation.positive_finite("weight_decay", weight_decay)
    steps = validation.positive_int("steps", steps)
    w = np.zeros_like(a)
    for t in range(steps):
        g = w - a
        size = np.linalg.norm(g)
        if size == 0.0:
            break
        direction = np.sign(g) * ns_polynomial(np.abs(g) / size, coefficients, ns_steps)
        lr = 2.0 / (weight_decay * (t + 2))
        # eq-1 with the Newton--Schulz direction: w <- (1 - lr*wd) w - lr * s * NS(g)
        w = (1.0 - lr * weight_decay) * w - lr * scale * direction
    return w
