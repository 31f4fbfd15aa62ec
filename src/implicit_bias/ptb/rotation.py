r"""Train the same model in a rotated basis: a fixed random orthogonal change of coordinates per matrix.

For every 2-D parameter :math:`W\in\mathbb R^{m\times n}` (embedding, attention projections,
feed-forward, decoder) two Haar-random orthogonal matrices :math:`U\in O(m)`, :math:`V\in O(n)`
are drawn once, and the optimizer sees :math:`\hat W` with

.. math::

    W = U\hat W V^\top,\qquad \hat W_0 = U^\top W_0 V .

The network, its initial function and its loss are unchanged (to float round-off); only the
coordinates the optimizer updates are different.  The map :math:`\hat W\mapsto U\hat W V^\top` is
the orthogonal map :math:`V\otimes U` on :math:`\operatorname{vec}\hat W`, so it preserves the
Frobenius (ℓ2) geometry and every rotation-equivariant method — gradient descent, with or
without momentum and weight decay — takes the same steps in function space, while a
coordinate-wise method (Adam, sign descent, Lion) does not: the ℓ∞ ball of :math:`\hat W` is a
rotated box in :math:`W` (book chapter ``ch-rotation``; Xie, Mohamadi & Li, 2025).  Vectors
(biases, LayerNorm gains) stay in their basis.

Implemented with ``torch.nn.utils.parametrize``: the model keeps its attributes (``weight``
reads :math:`U\hat WV^\top`), and the optimizer's tensors are the ``...parametrizations.<name>.original``
parameters.  The bases are non-persistent buffers, redrawn from ``rotation_seed`` when a run is
built, so a checkpoint holds only :math:`\hat W`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from ..problems import haar_rotation

__all__ = ["OrthogonalBasis", "rotate_matrices", "rotated_names"]


class OrthogonalBasis(nn.Module):
    r"""The parametrization :math:`\hat W\mapsto U\hat WV^\top` with fixed orthogonal :math:`U, V`."""

    def __init__(self, left: torch.Tensor, right: torch.Tensor):
        super().__init__()
        self.register_buffer("left", left, persistent=False)
        self.register_buffer("right", right, persistent=False)

    def forward(self, rotated: torch.Tensor) -> torch.Tensor:
        r""":math:`W=U\hat WV^\top`, the weight the network uses."""
        return self.left @ rotated @ self.right.T

    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        """:math:`U^\top W V`, the rotated coordinates of ``weight`` (used once, at registration)."""
        return self.left.T @ weight @ self.right


def rotate_matrices(model: nn.Module, seed: int) -> list[str]:
    """Reparametrise every 2-D parameter of ``model`` in its own Haar-random basis, in place.

    The bases come from ``numpy.random.default_rng(seed)``, drawn in the order of
    ``model.named_parameters()`` (left basis, then right basis, per matrix), in float64 and then
    cast to the parameter's dtype and device.  Returns the rotated parameters' original names.

    >>> model = nn.Sequential(nn.Linear(3, 2))
    >>> x = torch.randn(4, 3)
    >>> before = model(x)
    >>> rotate_matrices(model, seed=0)
    ['0.weight']
    >>> bool(torch.allclose(model(x), before, atol=1e-6))
    True
    """
    rng = np.random.default_rng(seed)
    matrices = [(name, p) for name, p in model.named_parameters() if p.ndim == 2]
    for name, param in matrices:
        module_name, _, attribute = name.rpartition(".")
        module = model.get_submodule(module_name)
        left, right = (torch.as_tensor(haar_rotation(size, rng), dtype=param.dtype,
                                       device=param.device) for size in param.shape)
        parametrize.register_parametrization(module, attribute, OrthogonalBasis(left, right))
    return [name for name, _ in matrices]


def rotated_names(names) -> list[str]:
    """``a.b.parametrizations.weight.original`` -> ``a.b.weight``: the tensors' names as the
    network knows them (for the per-tensor columns of the result files)."""
    return [n.replace(".parametrizations.", ".").removesuffix(".original") for n in names]
