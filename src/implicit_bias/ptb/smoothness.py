r"""Smoothness of the full-batch loss in ℓ2 and in ℓ∞, estimated from Hessian-vector products.

A loss is :math:`H`-smooth w.r.t. a norm :math:`\|\cdot\|` when
:math:`\|\nabla L(x)-\nabla L(y)\|_*\le H\|x-y\|`; at a point the local constant is the operator
norm of the Hessian :math:`\nabla^2L(x)` from that norm to its dual:

.. math::

    H_2 = \|\nabla^2L\|_{2\to2} = \max_i|\lambda_i|,

    H_\infty = \|\nabla^2L\|_{\infty\to1} = \max_{\|u\|_\infty,\|v\|_\infty\le1}u^\top\nabla^2L\,v .

Gradient descent's rates are stated with :math:`H_2`, sign descent's and Adam's (and the paper's
Theorem 3.5, through Assumption 3.4) with :math:`H_\infty`.  :math:`H_2` is invariant under an
orthogonal change of basis; :math:`H_\infty` is not (Xie, Mohamadi & Li, 2025).  Always
:math:`H_2\le H_\infty\le d\,H_2`.

Both are *lower bounds* from iterations that only increase the objective:

* :func:`spectral_norm_estimate`: power iteration :math:`v\leftarrow Hv/\|Hv\|_2` from a seeded
  Gaussian start, reporting :math:`\|Hv\|_2` for the unit :math:`v` of the last iteration;
* :func:`linf_to_l1_estimate`: alternating maximisation of the bilinear form over the cube,
  :math:`u\leftarrow\operatorname{sign}(Hv)`, :math:`v\leftarrow\operatorname{sign}(Hu)` from a
  seeded Rademacher start; each half-step attains the exact maximum over one argument,
  :math:`\max_{\|u\|_\infty\le1}u^\top Hv = \|Hv\|_1`, so the values never decrease.

The loss is the exact full-batch mean cross-entropy through the model's plain forward pass
(:func:`full_batch_loss`; the trainer's fused output layer has no second derivative), with
PyTorch's *math* attention kernel, the one that is twice differentiable on every device.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch.nn import functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from .. import validation

__all__ = ["full_batch_loss", "HessianVectorProduct", "spectral_norm_estimate",
           "linf_to_l1_estimate", "SmoothnessEstimate", "estimate_smoothness",
           "estimate_for_run"]


def full_batch_loss(model, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over every chunk, twice differentiable."""
    logits = model(inputs)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


class HessianVectorProduct:
    r""":math:`v\mapsto\nabla^2L(x)\,v` at the model's current parameters (double backward).

    The gradient graph is built once (``create_graph=True``); each call differentiates
    :math:`\langle\nabla L, v\rangle` once more.  Vectors are lists of tensors shaped like the
    parameters.
    """

    def __init__(self, model, inputs, targets):
        self.params = [p for p in model.parameters() if p.requires_grad]
        with sdpa_kernel(SDPBackend.MATH):
            self.loss = full_batch_loss(model, inputs, targets)
            self.grads = torch.autograd.grad(self.loss, self.params, create_graph=True)
        self.dim = sum(p.numel() for p in self.params)

    def __call__(self, vectors: list[torch.Tensor]) -> list[torch.Tensor]:
        dot = sum((g * v).sum() for g, v in zip(self.grads, vectors))
        with sdpa_kernel(SDPBackend.MATH):
            return list(torch.autograd.grad(dot, self.params, retain_graph=True))


def _norm2(vectors) -> float:
    return math.sqrt(sum(float(v.double().pow(2).sum()) for v in vectors))


def spectral_norm_estimate(hvp, iterations: int = 30, seed: int = 0) -> tuple[float, list[float]]:
    """Power-iteration lower bound on :math:`H_2`; returns (estimate, value after each iteration)."""
    iterations = validation.positive_int("iterations", iterations)
    gen = torch.Generator().manual_seed(seed)
    v = [torch.randn(p.shape, generator=gen).to(p) for p in hvp.params]
    history = []
    for _ in range(iterations):
        scale = _norm2(v)
        v = [x / scale for x in v]
        hv = hvp(v)
        history.append(_norm2(hv))
        v = hv
    return history[-1], history


def linf_to_l1_estimate(hvp, iterations: int = 30, seed: int = 0) -> tuple[float, list[float]]:
    r"""Cube-ascent lower bound on :math:`H_\infty=\max u^\top Hv`; returns (estimate, history).

    The value after each half-step is :math:`\|Hv\|_1` for the current sign vector :math:`v`; the
    estimate is the largest value seen (the sequence is non-decreasing up to float round-off).
    """
    iterations = validation.positive_int("iterations", iterations)
    gen = torch.Generator().manual_seed(seed)
    v = [torch.randint(0, 2, p.shape, generator=gen).to(p) * 2 - 1 for p in hvp.params]
    history = []
    for _ in range(iterations):
        hv = hvp(v)
        history.append(sum(float(x.double().abs().sum()) for x in hv))
        v = [torch.where(x >= 0, 1.0, -1.0).to(x) for x in hv]
    return max(history), history


@dataclass(frozen=True)
class SmoothnessEstimate:
    """The two estimates at one point, with what they are comparable against."""

    loss: float          #: full-batch mean cross-entropy at the point
    h2: float            #: lower bound on H_2 (power iteration)
    hinf: float          #: lower bound on H_inf (cube ascent)
    dim: int             #: number of parameters d (H_2 <= H_inf <= d H_2)
    iterations: int

    @property
    def hinf_per_dim(self) -> float:
        r""":math:`H_\infty/d`, the ℓ∞ constant per coordinate (in :math:`[H_2/d, H_2]`)."""
        return self.hinf / self.dim

    def to_dict(self) -> dict:
        return dict(asdict(self), hinf_per_dim=self.hinf_per_dim)


def estimate_smoothness(model, inputs, targets, iterations: int = 30,
                        seed: int = 0) -> SmoothnessEstimate:
    """Both estimates at the model's current parameters (float32, the training precision)."""
    hvp = HessianVectorProduct(model, inputs, targets)
    h2, _ = spectral_norm_estimate(hvp, iterations, seed)
    hinf, _ = linf_to_l1_estimate(hvp, iterations, seed)
    return SmoothnessEstimate(loss=float(hvp.loss.detach()), h2=h2, hinf=hinf, dim=hvp.dim,
                              iterations=iterations)


def estimate_for_run(run, at_end: bool = True, iterations: int = 30, seed: int = 0,
                     data_dir=None, corpus=None) -> SmoothnessEstimate:
    """:func:`estimate_smoothness` at a saved run's last checkpoint (``at_end``) or at its x_0.

    ``run`` is a :class:`~implicit_bias.ptb.results.Run`; the model is rebuilt from its
    configuration (in its basis), so x_0 needs no file, and the end point needs the run's
    ``checkpoint.pt`` at its last step (kept in the run folder, never committed).
    """
    from .checkpointing import checkpoint_path, load_checkpoint
    from .trainer import Trainer

    trainer = Trainer(run.config, data_dir=data_dir, corpus=corpus, show_progress=False)
    if at_end:
        path = checkpoint_path(run.dir)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: re-run {run.label} with the command in "
                                    f"its README.md to estimate at its end point")
        state = load_checkpoint(path, trainer.device, run.config)
        if state["step"] != run.summary.steps_done:
            raise ValueError(f"{path} holds step {state['step']}, not the run's last step "
                             f"{run.summary.steps_done}")
        trainer.model.load_state_dict(state["model"])
    return estimate_smoothness(trainer.model, trainer.inputs, trainer.targets, iterations, seed)
