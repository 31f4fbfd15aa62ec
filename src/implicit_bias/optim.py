r"""PyTorch optimizers of the paper: AdamW (Algorithm 1), Adam with ℓ2 regularisation, and
normalized steepest descent with decoupled weight decay (Eq. 1).

Argument names, order and state names follow ``torch.optim.AdamW`` (``lr``, ``betas``, ``eps``,
``weight_decay``; ``step``, ``exp_avg``, ``exp_avg_sq``) so that the two can be read side by side.

**AdamW, Algorithm 1** (book chapter ``ch-adamw``).  With :math:`g_t = \nabla L(x_{t-1})`,
:math:`m_0 = v_0 = 0`:

.. math::

    m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,

    v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,

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

**Lion** (Chen et al. 2023): :math:`c_t = \beta_1 m_{t-1} + (1-\beta_1)g_t`,
:math:`x_t = (1-\lambda\eta_t)x_{t-1} - \eta_t\operatorname{sign}(c_t)`,
:math:`m_t = \beta_2 m_{t-1} + (1-\beta_2)g_t`: NSD-WD in ℓ∞ with the direction taken at a
momentum (book chapter ``ch-many-optimizers``).

The optimizers with decoupled weight decay (:class:`AdamW`, :class:`Lion`,
:class:`NormalizedSteepestDescent`)
reject :math:`\lambda\eta>1`: the factor :math:`1-\lambda\eta` would be negative and flip the
sign of the weights at every step.  They are tested against the float64 reference
implementations :func:`implicit_bias.adamw.run_adamw` and
:func:`implicit_bias.steepest.nsd_wd_step`; :func:`run_torch_optimizer` runs any torch optimizer
on a NumPy ``grad_fn`` for such comparisons.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.optim import Optimizer

from . import validation
from .history import History, learning_rates
from .norms import LpNorm, get_norm, polar_factor  # polar_factor: one home, also for tensors

__all__ = ["AdamW", "AdamL2", "Adam", "Lion", "NormalizedSteepestDescent", "polar_factor",
           "run_torch_optimizer"]


def _validate_adam_args(lr, betas, eps, weight_decay, decoupled: bool) -> None:
    """The checks of :mod:`implicit_bias.validation` (a tensor ``lr`` is rejected too)."""
    validation.nonneg_finite("lr", lr)
    validation.nonneg_finite("eps", eps)
    validation.betas(betas)
    validation.nonneg_finite("weight_decay", weight_decay)
    if decoupled:  # Adam-l2 has no decay factor, so any lr * weight_decay is meaningful there
        validation.decay_factor(lr, weight_decay)


def _closure_loss(closure):
    """The loss that ``closure`` re-evaluates (``None`` without one); gradients are enabled for it
    because ``step`` itself runs under ``torch.no_grad``."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


class _AdamBase(Optimizer):
    """Shared moment bookkeeping of :class:`AdamW` and :class:`AdamL2` (foreach kernels)."""

    _decoupled: bool = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, bias_correction: bool = False):
        _validate_adam_args(lr, betas, eps, weight_decay, self._decoupled)
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
        loss = _closure_loss(closure)
        if self._decoupled:
            # before any state changes: a scheduler or a param-group edit may have raised lr since
            # construction, and a negative factor 1 - lr * lambda would flip the weights' sign
            for group in self.param_groups:
                validation.decay_factor(group["lr"], group["weight_decay"])
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
            # Algorithm 1: x <- (1 - lr * lambda) x   (decoupled weight decay, checked in step)
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
        lr: learning rate :math:`\eta \ge 0`, with :math:`\lambda\eta\le1` (else ``ValueError``:
            the decay factor :math:`1-\lambda\eta` would change sign).
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


class Lion(Optimizer):
    r"""Lion, exactly as Algorithm 2 of Chen et al. (2023, arXiv 2302.06675), decoupled decay:

    .. math::

        c_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,

        x_t = (1-\lambda\eta_t)\,x_{t-1} - \eta_t\operatorname{sign}(c_t),

        m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t,

    with :math:`m_0 = 0` and :math:`\operatorname{sign}(0) = 0` (torch's ``sign``, the tie rule of
    the ℓ∞ steepest direction in :mod:`implicit_bias.norms`).  Since
    :math:`\|\operatorname{sign}(c_t)\|_\infty\le1`, Lemma 3.1 gives
    :math:`\|x_t\|_\infty\le1/\lambda` after a transient, for every :math:`\beta_1,\beta_2`
    (book: ``prop-lion-nsd``).

    Args:
        params: parameters or groups.
        lr: :math:`\eta\ge0`, with :math:`\lambda\eta\le1` (else ``ValueError``).
        betas: :math:`(\beta_1,\beta_2)\in[0,1)^2` (any order).
        weight_decay: :math:`\lambda\ge0`.

    The state is ``exp_avg`` (:math:`m_t`) and ``step``, as in ``torch.optim.AdamW``; the update uses
    foreach kernels (``bench/bench_optim.py`` times it against ``torch.optim.AdamW``).

    Example:
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = Lion(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=1.0)
        >>> model(torch.ones(1, 3)).sum().backward(); opt.step()
    """

    def __init__(self, params, lr: float = 1e-4, betas=(0.9, 0.99), weight_decay: float = 0.0):
        validation.nonneg_finite("lr", lr)
        validation.betas(betas)
        validation.nonneg_finite("weight_decay", weight_decay)
        validation.decay_factor(lr, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        """Perform one step; ``closure`` re-evaluates the model and returns the loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:  # before any state changes (a scheduler may raise lr)
            validation.decay_factor(group["lr"], group["weight_decay"])
        for group in self.param_groups:
            params, grads, exp_avgs = [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("Lion does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] = int(state["step"]) + 1
                params.append(p)
                grads.append(p.grad)
                exp_avgs.append(state["exp_avg"])
            if not params:
                continue
            lr, wd = group["lr"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            # c = beta1 m + (1 - beta1) g = m + (1 - beta1)(g - m)   (interpolation, then sign)
            update = torch._foreach_lerp(exp_avgs, grads, 1.0 - beta1)
            torch._foreach_sign_(update)
            if wd != 0.0:
                # x <- (1 - lr * lambda) x   (decoupled weight decay, checked above)
                torch._foreach_mul_(params, 1.0 - lr * wd)
            # x <- x - lr * sign(c)
            torch._foreach_add_(params, update, alpha=-lr)
            # m <- beta2 m + (1 - beta2) g
            torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta2)
        return loss


# Below this l2 norm (float32's smallest normal number) g / ||g|| may have lost precision.
_L2_SAFE_MIN = torch.finfo(torch.float32).tiny


class NormalizedSteepestDescent(Optimizer):
    r"""Normalized steepest descent with decoupled weight decay, Eq. (1), optionally with momentum:

    .. math::

        m_t = \beta m_{t-1} + (1-\beta) g_t,

        x_t = (1-\lambda\eta_t)x_{t-1} - \eta_t\Delta_t,

        \Delta_t \in \arg\max_{\|\Delta\|\le1}\langle m_t, \Delta\rangle,

    with :math:`m_t = g_t` when ``momentum=0`` (the default; Eq. 1 exactly).  With ``"linf"`` and
    ``momentum>0`` this is Signum (Bernstein et al. 2018): :math:`x_t = (1-\lambda\eta)x_{t-1} -
    \eta\operatorname{sign}(m_t)`.

    The norm:

    * an :math:`\ell_p` norm (``"linf"`` = SignGD/Signum, ``"l2"``, ``"l1"``, any ``p >= 1``) is
      taken over *all* parameters with a gradient, concatenated into one vector (so ``"l2"``
      divides by the global norm);
    * ``"spectral"`` is applied *per tensor*: each 2-D tensor moves along the exact polar factor
      :math:`U V^\top` of its own (momentum) gradient
      (:func:`~implicit_bias.norms.polar_factor`, an SVD: Muon with an exact orthogonalisation), and every other tensor along ``sign`` (the documented
      fallback, ``fallback_norm="linf"``).  Each block's update then has norm 1 in its own norm, so
      this is NSD-WD for the product norm :math:`\max(\max_W\|W\|_{op}, \max_v\|v\|_\infty)`
      (the steepest direction of a max of block norms is the list of the blocks' directions), and
      Lemma 3.1 bounds every matrix's spectral norm and every other tensor's ℓ∞ norm by
      :math:`1/\lambda` after a transient.

    Learning rate, weight decay and momentum must be the same in every group.

    Args:
        params: parameters or groups.
        lr: :math:`\eta\ge0`.
        norm: ``"linf"``, ``"l2"``, ``"l1"``, any ``p >= 1``, or ``"spectral"``.
        weight_decay: :math:`\lambda\ge0` with :math:`\lambda\eta\le1`.
        momentum: :math:`\beta\in[0,1)` (state ``momentum_buffer``).
    """

    def __init__(self, params, lr: float, norm="linf", weight_decay: float = 0.0,
                 momentum: float = 0.0):
        validation.decay_factor(lr, weight_decay)
        validation.unit_interval("momentum", momentum)
        self.norm = get_norm(norm)
        if not (isinstance(self.norm, LpNorm) or self.norm.name == "spectral"):
            raise ValueError(f"NormalizedSteepestDescent supports l_p norms and 'spectral', "
                             f"got norm={norm!r}")
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum))

    @torch.no_grad()
    def _direction(self, grads):
        """Steepest direction of Lemma 2.2 for the concatenated gradient, split per tensor.

        ``linf`` is ``sign(g)`` and ``l2`` is ``g / ||g||_2``, computed on the device (the closed
        forms of :meth:`~implicit_bias.norms.LpNorm.steepest_direction`, tested against it);
        ``spectral`` is the polar factor of each 2-D tensor and ``sign`` of the others; every other
        norm, and an l2 norm that overflows or nearly underflows, calls
        :meth:`~implicit_bias.norms.LpNorm.steepest_direction` on the float64 concatenation, so
        there is one implementation of the direction.
        """
        # One fused pass gives every tensor's l2 norm; their total is finite iff g is (and then
        # it is also the l2 denominator), so the common case costs no extra finiteness pass.
        total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        finite_total = bool(torch.isfinite(total))
        if not finite_total and not all(bool(torch.isfinite(g).all()) for g in grads):
            raise ValueError("gradient g must be finite (found nan or inf)")
        if self.norm.name == "spectral":
            return [polar_factor(g) if g.ndim == 2 else torch.sign(g) for g in grads]
        if math.isinf(self.norm.p):
            return torch._foreach_sign(grads)
        if self.norm.p == 2 and finite_total and total > _L2_SAFE_MIN:
            # the closed form g / ||g||_2 of LpNorm.steepest_direction for p = 2, on the device;
            # an overflowing or (nearly) underflowing norm takes the exact float64 path below
            return torch._foreach_div(grads, total)
        flat = torch.cat([g.detach().reshape(-1).to(device="cpu", dtype=torch.float64)
                          for g in grads])
        direction = torch.from_numpy(self.norm.steepest_direction(flat.numpy()))
        pieces = direction.split([g.numel() for g in grads])
        return [d.reshape(g.shape).to(device=g.device, dtype=g.dtype)
                for d, g in zip(pieces, grads)]

    @torch.no_grad()
    def step(self, closure=None):
        loss = _closure_loss(closure)
        pairs = [(p, group) for group in self.param_groups for p in group["params"]
                 if p.grad is not None]
        if not pairs:
            return loss
        settings = {(g["lr"], g["weight_decay"], g.get("momentum", 0.0)) for _, g in pairs}
        if len(settings) > 1:
            raise ValueError("NormalizedSteepestDescent needs one lr, weight_decay and momentum "
                             "for all groups")
        lr, wd, beta = settings.pop()
        decay = validation.decay_factor(lr, wd)
        validation.unit_interval("momentum", beta)
        params = [p for p, _ in pairs]
        grads = [p.grad for p in params]
        if beta != 0.0:
            bufs = []
            for p in params:
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                bufs.append(state["momentum_buffer"])
            # m <- beta m + (1 - beta) g
            torch._foreach_lerp_(bufs, grads, 1.0 - beta)
            grads = bufs
        directions = self._direction(grads)
        # eq-1: x <- (1 - lr*wd) x - lr * Delta
        if wd != 0.0:
            torch._foreach_mul_(params, decay)
        torch._foreach_add_(params, directions, alpha=-lr)
        return loss


def run_torch_optimizer(grad_fn, x0, lrs, *, optimizer=AdamW, dtype=torch.float64,
                        **options) -> History:
    r"""Run a torch optimizer on a NumPy problem: one parameter vector :math:`x`, the gradient
    ``grad_fn(x)`` of the loss, learning rate ``lrs[t-1]`` at step :math:`t` (set on every group).

    The same signature as the NumPy runners, so the float64 reference
    :func:`implicit_bias.adamw.run_adamw` and a torch optimizer can be compared step for step.

    Args:
        grad_fn: :math:`x\mapsto\nabla L(x)` on NumPy arrays.
        x0: initial point; lrs: :math:`\eta_1..\eta_T`.
        optimizer: a ``torch.optim.Optimizer`` class (default :class:`AdamW`).
        dtype: the parameter's dtype.
        options: the optimizer's other arguments (``betas``, ``eps``, ``weight_decay``, ...).

    Returns:
        a :class:`~implicit_bias.history.History` with ``xs`` (float64 copies) and ``lrs``.

    >>> h = run_torch_optimizer(lambda x: x - 2.0, np.zeros(1), [0.1, 0.1], betas=(0.0, 0.0),
    ...                         eps=0.0, weight_decay=1.0)
    >>> h.xs[:, 0].round(12)
    array([0.  , 0.1 , 0.19])
    """
    lrs = learning_rates(lrs)
    x0 = validation.finite_array("x0", x0)
    param = torch.nn.Parameter(torch.tensor(x0, dtype=dtype))
    opt = optimizer([param], lr=float(lrs[0]) if lrs.size else 0.0, **options)
    xs = np.empty((lrs.shape[0] + 1,) + x0.shape)
    xs[0] = x0
    for t, lr in enumerate(lrs, start=1):
        for group in opt.param_groups:
            group["lr"] = float(lr)
        x = param.detach().cpu().numpy().astype(float)
        grad = validation.finite_array("grad_fn(x)", grad_fn(x))
        validation.same_shape(x=x, **{"grad_fn(x)": grad})
        param.grad = torch.tensor(grad, dtype=dtype, device=param.device)
        opt.step()
        xs[t] = param.detach().cpu().numpy()
    return History(xs=xs, lrs=lrs)
