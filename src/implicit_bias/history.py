r"""The one result type of every NumPy runner (:mod:`~implicit_bias.steepest`,
:mod:`~implicit_bias.adamw`) and of :func:`implicit_bias.optim.run_torch_optimizer`.

Indexing follows the paper: ``xs[t]`` is :math:`x_t` for :math:`t=0..T` (``xs[0] = x0``), and the
per-step arrays hold step :math:`t=1..T` at index ``t-1``: ``lrs[t-1]`` :math:`=\eta_t`,
``grads[t-1]`` :math:`=g_t=\nabla L(x_{t-1})`, and for Adam ``ms/vs/deltas[t-1]``
:math:`=m_t, v_t, \Delta_t`.  Fields a runner does not produce are empty arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import validation
from .norms import get_norm

__all__ = ["History", "learning_rates"]


def _empty() -> np.ndarray:
    return np.empty(0)


@dataclass
class History:
    """Iterates (and, for Adam, moments) of one run; see the module docstring for the indexing.

    ``losses[t]`` is :math:`L(x_t)` when the runner was given a ``loss_fn``, else empty.
    """

    xs: np.ndarray
    lrs: np.ndarray
    losses: np.ndarray = field(default_factory=_empty)
    grads: np.ndarray = field(default_factory=_empty)
    ms: np.ndarray = field(default_factory=_empty)
    vs: np.ndarray = field(default_factory=_empty)
    deltas: np.ndarray = field(default_factory=_empty)

    @property
    def final(self) -> np.ndarray:
        """The last iterate :math:`x_T`."""
        return self.xs[-1]

    def norms(self, norm) -> np.ndarray:
        r""":math:`\|x_t\|` for :math:`t=0..T`."""
        norm = get_norm(norm)
        return np.array([norm.value(x) for x in self.xs])


def learning_rates(lrs, name: str = "lrs") -> np.ndarray:
    r"""The step sizes :math:`\eta_1,\dots,\eta_T` of a run as a finite, non-negative 1-D array
    (its length is the number of steps)."""
    return validation.finite_array(name, lrs, ndim=1, nonneg=True)
