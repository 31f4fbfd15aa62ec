r"""PyTorch optimizers of the paper: AdamW (Algorithm 1), Adam with ℓ2 regularisation, and
normalized steepest descent with decoupled weight decay (Eq. 1).

Argument names, order and state names follow ``torch.optim.AdamW`` (``lr``, ``betas``, ``eps``,
``weight_decay``; ``step``, ``exp_avg``, ``exp_avg_sq``) so that the two can be read side by side.

**AdamW, Algorithm 1** (book chapter ``ch-adamw``).  With :math:`g_t = \nabla L(x_{t-1})`,
:math:`m_0 = v_0 = 0`:

.. math::

    m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
    v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\qquad
    x_t = (1-\lambda\eta_t)\,x_{t-1} - \eta_t\,\frac{m_t}{\sqrt{v_t}+\epsilon}.

The paper's theory uses **no bias correction** (``bias_correction=False``, the default here);
``bias_correction=True`` replaces :math:`m_t, v_t` by :math:`m_t/(1-\beta_1^t)` and
:math:`v_t/(1-\beta_2^t)` and then reproduces ``torch.optim.AdamW`` to float round-off.
With ``eps=0`` the convention :math:`0/0 := 0` of the paper is used: a coordinate whose
gradients have all been exactly zero has :math:`m_t = v_t = 0` and receives no update.
(Caveat of finite precision, shared with any implementation: a gradient so small that
:math:`g^2` underflows to 0, below about ``1e-19`` in float32, gives :math:`v_t = 0` with
:math:`m_t \ne 0`; use float64 or ``eps > 0`` for such gradients.)

**AdamL2**: the same moments of :math:`g_t + \lambda x_{t-1}` and the step
:math:`x_t = x_{t-1} - \eta_t m_t/(\sqrt{v_t}+\epsilon)` (``torch.optim.Adam(weight_decay=λ)``).

**NormalizedSteepestDescent**: :math:`x_t = (1-\lambda\eta_t)x_{t-1} - \eta_t\Delta_t` with
:math:`\Delta_t` the steepest direction of Lemma 2.2 for the gradient of *all* parameters
(of all groups) taken as one vector: SignGD for ``"linf"``, normalised GD for ``"l2"``, one
coordinate for ``"l1"``.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch.optim import Optimizer

from .norms import get_norm

__all__ = ["AdamW", "AdamL2", "Adam", "NormalizedSteepestDescent"]


def _validate_lr(lr) -> None:
    if isinstance(lr, torch.Tensor):
        raise ValueError("lr must be a Python float, not a Tensor")
    if not (0.0 <= lr < math.inf):
        raise ValueError(f"Invalid learning rate: lr={lr!r} (must be finite and >= 0)")


def _validate_adam_args(lr, betas, eps, weight_decay) -> None:
    _validate_lr(lr)
    if not (0.0 <= eps < math.inf):
        raise ValueError(f"Invalid epsilon value: eps={eps!r} (must be finite and >= 0)")
    try:
        beta1, beta2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
    if not 0.0 <= beta1 < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: beta1={beta1!r} (must be in [0, 1))")
    if not 0.0 <= beta2 < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: beta2={beta2!r} (must be in [0, 1))")
    if not (0.0 <= weight_decay < math.inf):
        raise ValueError(
            f"Invalid weight_decay value: weight_decay={weight_decay!r} (must be finite and >= 0)"
        )


class _AdamBase(Optimizer):
    """Shared moment bookkeeping of :class:`AdamW` and :class:`AdamL2` (foreach kernels)."""

    _decoupled: bool = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, bias_correction: bool = False):
        _validate_adam_args(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        bias_correction=bool(bias_correction))
        super().__init__(params, defaults)

    def __setstate__(self, state):
        # load_state_dict replaces the groups by the saved ones; a checkpoint written by
        # torch.optim.AdamW/Adam lacks our ``bias_correction`` key, which then comes from the defaults.
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)

    def _init_group(self, group):
        """Collect the tensors of one group, creating the state lazily and advancing ``step``."""
        params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            state = self.state[p]
            if not state:
                # A Python int step (not a tensor, as torch keeps it) so that the bias-correction
                # powers beta**t are computed in float64 on the host, as torch's foreach path does.
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            # int() also accepts a tensor step loaded from a torch.optim.AdamW state_dict.
            state["step"] = int(state["step"]) + 1
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        return params, grads, exp_avgs, exp_avg_sqs, steps

    @torch.no_grad()
    def step(self, closure=None):
        """Perform one step; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs, steps = self._init_group(group)
            if params:
                self._update(group, steps, params, grads, exp_avgs, exp_avg_sqs)
        return loss

    @staticmethod
    def _bias_corrections(steps, beta1, beta2, lr):
        """``(lr / (1 - beta1**t), sqrt(1 - beta2**t))``: one pair of floats if every tensor of the
        group is at the same step (the usual case), else one list entry per tensor (a parameter
        that first received a gradient later has a smaller step, exactly as in torch)."""
        if all(t == steps[0] for t in steps):
            t = steps[0]
            return lr / (1.0 - beta1 ** t), (1.0 - beta2 ** t) ** 0.5
        return ([lr / (1.0 - beta1 ** t) for t in steps],
                [(1.0 - beta2 ** t) ** 0.5 for t in steps])

    def _update(self, group, steps, params, grads, exp_avgs, exp_avg_sqs):
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        if wd != 0.0 and not self._decoupled:
            # Adam-l2: g <- g + lambda * x  (the regulariser's gradient enters the moments)
            grads = torch._foreach_add(grads, params, alpha=wd)
        if wd != 0.0 and self._decoupled:
            # Algorithm 1: x <- (1 - lr * lambda) x   (decoupled weight decay)
            torch._foreach_mul_(params, 1.0 - lr * wd)
        # m <- beta1 m + (1 - beta1) g ;  v <- beta2 v + (1 - beta2) g^2
        torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1.0 - beta2)
        denom = torch._foreach_sqrt(exp_avg_sqs)
        step_size = lr
        if group["bias_correction"]:
            # m_hat / (sqrt(v_hat) + eps) = [m / (1 - b1^t)] / [sqrt(v) / sqrt(1 - b2^t) + eps]
            step_size, v_correction = self._bias_corrections(steps, beta1, beta2, lr)
            torch._foreach_div_(denom, v_correction)
        if eps > 0.0:
            torch._foreach_add_(denom, eps)
        else:
            # 0/0 := 0.  v = 0 only where every gradient so far was 0 (then m = 0 too), so raising
            # the denominator there to the smallest normal float turns 0/0 into 0/tiny = 0 and
            # leaves every other coordinate untouched (sqrt(v) >= sqrt(subnormal) >> tiny).
            tinies = [torch.finfo(d.dtype).tiny for d in denom]
            if all(tiny == tinies[0] for tiny in tinies):
                torch._foreach_clamp_min_(denom, tinies[0])
            else:  # mixed dtypes in one group: each tensor gets the tiny of its own dtype
                torch._foreach_clamp_min_(denom, tinies)
        # x <- x - lr * m / (sqrt(v) + eps)
        if isinstance(step_size, list):
            torch._foreach_addcdiv_(params, exp_avgs, denom, [-s for s in step_size])
        else:
            torch._foreach_addcdiv_(params, exp_avgs, denom, value=-step_size)


class AdamW(_AdamBase):
    r"""AdamW exactly as Algorithm 1 of Xie & Li (2024), decoupled weight decay.

    .. math::  x_t = (1-\lambda\eta)x_{t-1} - \eta\, m_t/(\sqrt{v_t}+\epsilon)

    Args:
        params: iterable of parameters or parameter groups.
        lr: learning rate :math:`\eta \ge 0`.
        betas: :math:`(\beta_1, \beta_2) \in [0,1)^2`; Theorem 1.1 needs :math:`\beta_1\le\beta_2`.
        eps: :math:`\epsilon \ge 0`; Theorem 1.1 needs :math:`\epsilon = 0` (then 0/0 := 0).
        weight_decay: :math:`\lambda \ge 0`; the implicit constraint is :math:`\|x\|_\infty\le1/\lambda`.
        bias_correction: divide the moments by :math:`1-\beta^t` as ``torch.optim.AdamW`` does
            (default ``False``, as in the paper).  With ``True`` the trajectory is bit-identical to
            ``torch.optim.AdamW(foreach=True)`` (same kernels, same scalars; ``tests/test_optim.py``).

    Each parameter keeps its own step count (a tensor that first gets a gradient late is
    bias-corrected from its own first step, as in torch).  The state uses torch's names
    (``step``, ``exp_avg``, ``exp_avg_sq``), so ``state_dict``/``load_state_dict`` round-trip,
    and a ``torch.optim.AdamW`` checkpoint can be resumed with ``bias_correction=True``.
    The step costs the same as torch's foreach step (``bench/bench_optim.py``).

    Example:
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = AdamW(model.parameters(), lr=1e-2, betas=(0.99, 0.99), weight_decay=1.0, eps=0.0)
        >>> model(torch.ones(1, 3)).sum().backward(); opt.step()
    """

    _decoupled = True


class AdamL2(_AdamBase):
    r"""Adam with ℓ2 regularisation: the moments see :math:`g_t + \lambda x_{t-1}`.

    Equal to ``torch.optim.Adam(weight_decay=λ)`` when ``bias_correction=True``; with
    ``weight_decay=0`` it is plain Adam.  Same arguments as :class:`AdamW`.
    """

    _decoupled = False


class Adam(AdamL2):
    """Plain Adam: :class:`AdamL2` with the default ``weight_decay=0``."""


class NormalizedSteepestDescent(Optimizer):
    r"""Normalized steepest descent with decoupled weight decay, Eq. (1):

    .. math::  x_t = (1-\lambda\eta_t)x_{t-1} - \eta_t\Delta_t,\qquad
               \Delta_t \in \arg\max_{\|\Delta\|\le1}\langle \nabla L(x_{t-1}), \Delta\rangle.

    The norm is taken over *all* parameters with a gradient, concatenated into one vector
    (so ``"l2"`` divides by the global gradient norm).  Learning rate and weight decay must be the
    same in every group, since the direction couples them.

    Args:
        params: parameters or groups.
        lr: :math:`\eta\ge0`.
        norm: ``"linf"`` (SignGD), ``"l2"``, ``"l1"`` or any ``p >= 1``.
        weight_decay: :math:`\lambda\ge0` with :math:`\lambda\eta\le1`.
    """

    def __init__(self, params, lr: float, norm="linf", weight_decay: float = 0.0):
        _validate_lr(lr)
        if not (0.0 <= weight_decay < math.inf):
            raise ValueError(
                f"Invalid weight_decay value: weight_decay={weight_decay!r} (must be finite and >= 0)"
            )
        if lr * weight_decay > 1.0:
            raise ValueError(f"lr * weight_decay must be <= 1, got {lr * weight_decay!r}")
        self.norm = get_norm(norm)
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

    @torch.no_grad()
    def _direction(self, grads):
        """Steepest direction of Lemma 2.2 for the concatenated gradient, per tensor."""
        p = self.norm.p
        if math.isinf(p):
            return torch._foreach_sign(grads)
        if p == 2.0:
            # Delta = g / ||g||_2 over the concatenated gradient; one fused norm per tensor.
            total = float(torch.linalg.vector_norm(torch.stack(
                [n.double() for n in torch._foreach_norm(grads, 2)])))
            if total == 0.0:
                return [torch.zeros_like(g) for g in grads]
            if math.isfinite(total):
                return torch._foreach_div(grads, total)
            # the per-tensor norms overflowed: fall through to the rescaled general formula
        if p == 1.0:
            maxes = torch.stack([g.abs().max() for g in grads])
            k = int(torch.argmax(maxes))
            out = [torch.zeros_like(g) for g in grads]
            j = int(torch.argmax(grads[k].abs()))
            if maxes[k] > 0:
                out[k].view(-1)[j] = torch.sign(grads[k].reshape(-1)[j])
            return out
        q = self.norm.q
        scale = torch.stack([g.abs().max() for g in grads]).max()
        if scale == 0:
            return [torch.zeros_like(g) for g in grads]
        scaled = [g.double() / scale for g in grads]
        dual = sum((s.abs() ** q).sum() for s in scaled) ** (1.0 / q)
        return [(torch.sign(s) * s.abs() ** (q - 1) / dual ** (q - 1)).to(g.dtype)
                for s, g in zip(scaled, grads)]

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        pairs = [(p, group) for group in self.param_groups for p in group["params"]
                 if p.grad is not None]
        if not pairs:
            return loss
        settings = {(g["lr"], g["weight_decay"]) for _, g in pairs}
        if len(settings) > 1:
            raise ValueError("NormalizedSteepestDescent needs one lr and weight_decay for all groups")
        lr, wd = settings.pop()
        params = [p for p, _ in pairs]
        directions = self._direction([p.grad for p in params])
        # eq-1: x <- (1 - lr*wd) x - lr * Delta
        if wd != 0.0:
            torch._foreach_mul_(params, 1.0 - lr * wd)
        torch._foreach_add_(params, directions, alpha=-lr)
        return loss
