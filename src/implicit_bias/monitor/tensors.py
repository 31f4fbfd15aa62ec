r"""The model's tensors, and their norms, boundary shares and KKT residuals, measured fast.

Everything is computed in the tensors' own dtype (float32 accumulation for bfloat16/float16),
with per-tensor scalars collected into one tensor per device and copied to the host once: no
float64 copy of a whole tensor is ever made.  The ℓ∞ norm (the largest absolute entry) is exact;
the sums of the KKT residual (:math:`\|g\|_1`, :math:`\langle x,g\rangle`) carry float32 round-off,
an absolute error of about :math:`10^{-6}` on the residual.

On a sharded model (``sharded=True``, or DTensor parameters as FSDP2 makes them) each rank
measures its shard, and the scalars are combined across ranks with
``torch.distributed.all_reduce`` (MAX for norms, SUM for counts and sums).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import torch

__all__ = ["named_tensors", "unwrap_name", "linf_norms", "spectral_norm", "Measurement", "measure"]

# wrappers whose names torch inserts into parameter names (torch.compile, DDP, FSDP1, checkpointing)
_WRAPPER_PARTS = ("_orig_mod", "_fsdp_wrapped_module", "_checkpoint_wrapped_module")
_LOW_PRECISION = (torch.float16, torch.bfloat16)


# ----------------------------------------------------------------------------- names
def unwrap_name(name: str) -> str:
    """``"_orig_mod.module.0.weight"`` → ``"0.weight"``: the name in the unwrapped model."""
    parts = [part for part in name.split(".") if part not in _WRAPPER_PARTS]
    while parts[:1] == ["module"] and len(parts) > 1:  # DDP / DataParallel
        parts = parts[1:]
    return ".".join(parts)


def _unwrap_module(model: torch.nn.Module) -> torch.nn.Module:
    while True:
        if isinstance(model, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, torch.nn.Module):
            model = model._orig_mod  # torch.compile's OptimizedModule
        else:
            return model


def named_tensors(params) -> list[tuple[str, torch.Tensor]]:
    """``[(name, tensor)]`` from an ``nn.Module`` (unwrapped from DDP, ``torch.compile`` and FSDP
    name prefixes), an iterable of ``(name, tensor)`` pairs, a list of tensors (named ``param0``,
    ``param1``, ...) or one tensor; a tensor given twice (tied weights) is kept once, under its
    first name."""
    if isinstance(params, torch.nn.Module):
        items = [(unwrap_name(n), p) for n, p in _unwrap_module(params).named_parameters()]
    elif isinstance(params, torch.Tensor):
        items = [("param0", params)]
    else:
        try:
            seq = list(params)
        except TypeError:
            raise TypeError(f"expected an nn.Module, (name, tensor) pairs or tensors, "
                            f"got {type(params).__name__}") from None
        items = []
        for i, item in enumerate(seq):
            if isinstance(item, torch.Tensor):
                items.append((f"param{i}", item))
            elif (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                  and isinstance(item[1], torch.Tensor)):
                items.append(item)
            else:
                raise TypeError(f"expected an nn.Module, (name, tensor) pairs or tensors; "
                                f"item {i} is {type(item).__name__}")
    seen, out = set(), []
    for name, p in items:
        if id(p) not in seen:
            seen.add(id(p))
            out.append((name, p))
    if not out:
        raise ValueError("no parameters given")
    return out


# ----------------------------------------------------------------------------- plain norms
@torch.no_grad()
def linf_norms(params) -> list[float]:
    """ℓ∞ norm of each tensor, as Python floats (exact: the largest absolute entry is a number of
    the tensor's dtype).  NaN propagates.  Used by the PTB trainer's ``Recorder``."""
    params = list(params)
    if not params:
        return []
    return torch.stack([_abs_max(p.detach()) for p in params]).double().cpu().tolist()


@torch.no_grad()
def spectral_norm(tensor) -> float:
    """Largest singular value of a 2-D tensor, computed in float64."""
    return float(torch.linalg.matrix_norm(tensor.detach().double(), 2))


def _abs_max(x: torch.Tensor) -> torch.Tensor:
    low, high = torch.aminmax(x)  # one pass, no |x| temporary
    return torch.maximum(-low, high)


# ----------------------------------------------------------------------------- measurements
@dataclass
class Measurement:
    """One tensor's numbers: its ``value`` (norm), ``saturated`` share, ``kkt_residual``, and
    ``issue`` (why a number could not be measured, else ``""``)."""

    value: float
    saturated: float | None = None
    kkt_residual: float | None = None
    issue: str = ""


@dataclass
class Request:
    """What to measure for one tensor: its ``norm``, the radius for the boundary share, the
    KKT ball's radius (``None``: no residual), the objective's sign (−1 under ``maximize``)."""

    tensor: torch.Tensor
    norm: str
    radius: float
    kkt_radius: float | None
    sign: float = 1.0


def _local(t):
    return t.to_local() if hasattr(t, "to_local") else t


def _dual_exponent(norm: str) -> float:
    p = {"linf": math.inf, "l2": 2.0, "l1": 1.0}.get(norm)
    if p is None:
        p = float(norm.removeprefix("l"))
    return 1.0 if p == math.inf else (math.inf if p == 1.0 else p / (p - 1.0))


def _norm_exponent(norm: str) -> float:
    return {"linf": math.inf, "l2": 2.0, "l1": 1.0}.get(norm) or float(norm.removeprefix("l"))


def _scalars(x: torch.Tensor, g: torch.Tensor | None, norm: str) -> list[torch.Tensor]:
    """[value, dual norm of g, <x, g>] of one (local) tensor, 0-dim tensors on its device."""
    work = x.float() if x.dtype in _LOW_PRECISION else x
    if norm == "linf":
        value = _abs_max(work)
    elif norm == "spectral":
        value = torch.linalg.matrix_norm(work, 2)
    else:
        value = torch.linalg.vector_norm(work, _norm_exponent(norm))
    if g is None:
        return [value, value, value]  # placeholders: no gradient, no residual
    gw = g.to(work.dtype)
    if norm == "spectral":
        dual = torch.linalg.matrix_norm(gw, "nuc")
    elif norm == "linf":
        dual = gw.abs().sum()  # ||g||_1; faster than vector_norm(g, 1) on CPU
    else:
        dual = torch.linalg.vector_norm(gw, _dual_exponent(norm))
    return [value, dual, torch.dot(work.reshape(-1), gw.reshape(-1))]


def _unmeasurable(x: torch.Tensor, sharded: bool) -> str:
    if x.is_meta:
        return "meta tensor: no data"
    if x.numel() == 0 and not sharded:
        return "empty tensor"
    if x.is_sparse:
        return "sparse tensor: not measured"
    return ""


@torch.no_grad()
def measure(requests: list[Request], tolerance: float, grad_scale: float = 0.0,
            sharded: bool = False) -> list[Measurement]:
    """The :class:`Measurement` of each request: one batch of per-tensor scalars per device, one
    host copy each, and the boundary share counted only where the norm reaches the boundary."""
    out: list[Measurement | None] = [None] * len(requests)
    per_device = defaultdict(list)
    for i, req in enumerate(requests):
        x = _local(req.tensor.detach())
        shard = sharded or hasattr(req.tensor, "to_local")  # a DTensor: a shard of the whole
        issue = _unmeasurable(x, shard)
        if issue:
            out[i] = Measurement(math.nan, issue=issue)
            continue
        grad = req.tensor.grad if req.kkt_radius is not None else None
        g = None if grad is None else _local(grad.detach())
        if x.numel() == 0:  # an empty shard of a sharded tensor: contributes nothing
            stats = list(torch.tensor([-math.inf, 0.0, 0.0], device=x.device))
        else:
            stats = _scalars(x, g, req.norm)
        per_device[x.device].append((i, stats, g is not None, shard))
    for rows in per_device.values():
        # one stack and one host copy per device; dtypes may differ (float32, float64)
        table = torch.stack([t for _, stats, _, _ in rows for t in stats]).double().reshape(-1, 3)
        if any(shard for *_, shard in rows):
            _all_reduce(table)
        for (i, _, has_grad, _), (value, dual, inner) in zip(rows, table.cpu().tolist()):
            out[i] = _finish(requests[i], value, dual, inner, has_grad, grad_scale)
    _boundary_shares(requests, out, tolerance, sharded)
    return out


def _all_reduce(table: torch.Tensor) -> None:
    """Combine per-rank scalars in place: the norm by MAX, the sums and counts by SUM."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    value = table[:, 0].contiguous()
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    sums = table[:, 1:].contiguous()
    dist.all_reduce(sums, op=dist.ReduceOp.SUM)
    table[:, 0], table[:, 1:] = value, sums


def _finish(req: Request, value, dual, inner, has_grad, grad_scale) -> Measurement:
    r"""The KKT residual :math:`\frac{(\|g\|_*-\langle-x/R,g\rangle)_+}{\|g\|_*+s}+(\|x\|/R-1)_+`
    (:func:`implicit_bias.kkt.kkt_residual` with :math:`\lambda=1/R`) from the scalars."""
    if not math.isfinite(value):
        return Measurement(value, issue="non-finite entries")
    if not has_grad:
        return Measurement(value)
    if not (math.isfinite(dual) and math.isfinite(inner)):
        return Measurement(value, issue="non-finite gradient")
    lam = 1.0 / req.kkt_radius
    gap = max(dual + lam * req.sign * inner, 0.0)  # ||g||_* - <-lam x, s g>
    denom = dual + grad_scale
    residual = (gap / denom if denom > 0 else 0.0) + max(lam * value - 1.0, 0.0)
    return Measurement(value, kkt_residual=residual)


def _boundary_shares(requests, out, tolerance, sharded) -> None:
    """``saturated``: share of coordinates (singular values) with |x_i| >= (1 - tol) R; counted
    only for tensors whose norm reaches that edge (the others have share 0 exactly)."""
    for req, m in zip(requests, out):
        if m.issue == "meta tensor: no data" or m.issue == "empty tensor" \
                or not math.isfinite(req.radius):
            continue
        edge = (1.0 - tolerance) * req.radius
        if not math.isfinite(m.value) or (m.value < edge and not sharded):
            m.saturated = 0.0 if math.isfinite(m.value) else None
            continue
        x = _local(req.tensor.detach())
        x = x.float() if x.dtype in _LOW_PRECISION else x
        if req.norm == "spectral":
            sv = torch.linalg.svdvals(x)
            count, total = float((sv >= edge).sum()), float(sv.numel())
        elif req.norm == "linf":
            count, total = float(torch.count_nonzero(x.abs() >= edge)), float(x.numel())
        else:  # an l_p norm has no coordinate-wise boundary
            continue
        if sharded or hasattr(req.tensor, "to_local"):
            count, total = _sum_across_ranks(count, total, x.device)
        m.saturated = count / total if total else 0.0


def _sum_across_ranks(count: float, total: float, device) -> tuple[float, float]:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return count, total
    both = torch.tensor([count, total], dtype=torch.float64, device=device)
    dist.all_reduce(both, op=dist.ReduceOp.SUM)
    return tuple(both.tolist())
