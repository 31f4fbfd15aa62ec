r"""Check your own training run: the implicit norm constraint of a PyTorch model and optimizer.

Three lines check a trained model (book chapter ``ch-check-your-run``)::

    from implicit_bias.monitor import constraint_report
    report = constraint_report(model, optimizer)     # after loss.backward(), or without gradients
    print(report.table())

One row per parameter tensor (a tensor shared by two modules, tied weights, appears once), with

* ``norm``: ``"linf"`` for Adam-type optimizers, Lion and sign descent; ``"spectral"`` for the
  matrices that ``torch.optim.Muon`` (or spectral NSD) trains; the ℓp norm of an ℓp NSD;
* ``value``: the tensor's norm (float64);
* ``radius``: the implicit radius of the tensor's parameter group, see :func:`group_radius`
  (``None`` where no constraint is implied, with the reason in ``note``);
* ``ratio`` = value / radius;
* ``saturated``: fraction of coordinates (singular values for ``"spectral"``) with
  ``|x_i| >= (1 - boundary_tolerance) * radius``;
* ``kkt_residual``: :func:`implicit_bias.kkt.kkt_residual` of the tensor and its ``p.grad``
  (float64, flattened) for the ball of radius 1/λ in the row's norm (Muon: its own radius), or
  ``None`` without a gradient.  It is scale-free: 0 exactly at a KKT point, at most 2 on the ball.
  A converging run ends with residuals of the order of its step size (the book's ``ch-kkt``
  measures (2H/‖g‖_* + λ)·η), so read it as a trend: falling with η means a KKT point of the
  ball; near 1 with ratios far below 1 means an interior point, where the constraint plays no
  role.  It is a statement about the *full-batch* gradient; a minibatch gradient adds noise.

Radii (:func:`group_radius`, chapter ``ch-check-your-run``):

* AdamW (ours; ``torch.optim.AdamW``; ``torch.optim.Adam(decoupled_weight_decay=True)``) with
  β1 = β2: 1/λ (Lemma 4.2(a) with κ = 0 bounds every update by 1; ε > 0 only shrinks it).
* AdamW with β1 < β2: the t → ∞ form of Lemma 4.3's bound (5) (``lem-4-3``),
  :func:`lemma_4_3_radius`, for the group's betas, the largest learning rate seen, λ, and the
  running range ln(V/v_min) of the second moment (:class:`SecondMomentRange`, kept by
  :class:`ConstraintMonitor`; without it the radius is ``None``).  Lemma 4.3 is proved for a
  constant learning rate; under a schedule the largest learning rate seen gives the largest of
  the constant-rate caps (the cap grows with η), which the book uses as the radius, flagged in
  ``note``.
* AdamW with β1 > β2: ``None`` (Appendix B.3: no radius), and a warning.
* Bias correction (``torch.optim.AdamW``) divides the t-th update by
  F_t = (1-β1^t)/√(1-β2^t), which tends to 1.  For β1 = β2 the corrected update still has
  ‖·‖∞ ≤ 1 (by Cauchy–Schwarz the first moment is at most √(1-β^t) times √v_t), so the
  radius is 1/λ; for β1 < β2 the uncorrected cap of Lemma 4.3 applies once β1^t, β2^t ≈ 0 (F_t can be below 1 early on, e.g.
  for β = (0.5, 0.6), making early corrected updates larger), noted.
* Adam with ℓ2 regularisation (``torch.optim.Adam(weight_decay=λ)``, our ``AdamL2``/``Adam``):
  ``None``; no ℓ∞ (or other) constraint is implied, and a warning says so.
* Lion and ℓ∞ :class:`~implicit_bias.optim.NormalizedSteepestDescent`: 1/λ for every β
  (``prop-lion-nsd``).  ℓp NSD: 1/λ bounds the ℓp norm of *all* its parameters together; a
  tensor's own norm is a lower bound of that.
* ``torch.optim.Muon``: the spectral radius s·c_NS/λ of :func:`implicit_bias.muon.muon_radius`
  for the tensor's shape and the group's ``adjust_lr_fn`` (``prop-muon-radius``).  A Muon setup
  trains the other tensors with a second optimizer: pass both, ``constraint_report(model, [muon,
  adamw])`` (or any object with an ``optimizers`` list).

Warnings (:class:`ConstraintWarning`, Python ``warnings``) name the group and the hypothesis
each time a group's settings leave the theorem: β1 > β2, ε not negligible against √v (measured
from the optimizer state), λη > 1, weight decay 0, ℓ2-coupled decay, a learning rate that
increases (seen by :class:`ConstraintMonitor`).

Torch tensors in, plain Python numbers out; norms are computed in float64, and no copy of the
model is kept.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import bounds, kkt, muon, validation

__all__ = ["ConstraintWarning", "ConstraintReport", "ConstraintMonitor", "SecondMomentRange",
           "GroupSettings", "constraint_report", "format_report", "group_radius",
           "lemma_4_3_radius", "linf_norms", "spectral_norm", "named_tensors"]

#: columns of :meth:`ConstraintReport.table` and of :class:`ConstraintMonitor`'s CSV
REPORT_COLUMNS = ("name", "group", "norm", "value", "radius", "ratio", "saturated", "kkt_residual")
HISTORY_COLUMNS = ("step", "group", "norm", "lr", "max_ratio", "worst_tensor", "max_value",
                   "radius", "saturated", "max_kkt_residual", "log_v_range")

# t for the t -> infinity limit of bound (5): q^t, beta1^t underflow to 0 for any q, beta1 < 1
_T_LIMIT = 1e300


class ConstraintWarning(UserWarning):
    """A parameter group's settings leave the hypotheses of the paper's results."""


# ----------------------------------------------------------------------------- norms
@torch.no_grad()
def linf_norms(params) -> list[float]:
    """ℓ∞ norm of each tensor, as Python floats (exact: the largest absolute entry is a float32 number).

    NaN propagates (a NaN entry gives NaN).  Used by the PTB trainer's ``Recorder``.
    """
    params = list(params)
    if not params:
        return []
    return torch.stack([p.detach().abs().max() for p in params]).double().cpu().tolist()


@torch.no_grad()
def spectral_norm(tensor) -> float:
    """Largest singular value of a 2-D tensor, computed in float64."""
    return float(torch.linalg.matrix_norm(tensor.detach().double(), 2))


def named_tensors(params) -> list[tuple[str, torch.Tensor]]:
    """``[(name, tensor)]`` from an ``nn.Module``, an iterable of ``(name, tensor)`` pairs, a list
    of tensors (named ``param0``, ``param1``, ...) or one tensor; a tensor given twice (tied
    weights) is kept once, under its first name."""
    if isinstance(params, torch.nn.Module):
        items = list(params.named_parameters())  # de-duplicates shared parameters itself
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


# ----------------------------------------------------------------------------- Lemma 4.3
def lemma_4_3_radius(betas, lr: float, weight_decay: float, log_v_range: float,
                     steps: int | None = None, x0_norm: float = 0.0) -> float:
    """Lemma 4.3's cap on ‖x_t‖∞ for AdamW with β1 ≤ β2 (``lem-4-3``).

    With ``steps=None`` (default) the t → ∞ limit of bound (5)
    (``bounds.iterate_bound_from_log_range`` at t → ∞): for λη < 1 - β1 this is
    (1/λ)·√(1 + K·ln(V/v_min)) (``bounds.asymptotic_iterate_bound``), and 1/λ for β1 = β2.
    With ``steps=t`` the finite-t bound on ‖x_t‖∞: q^t·‖x_0‖∞ + bound (5), q = 1 - λη.

    Args:
        betas: (β1, β2) with β1 ≤ β2.
        lr, weight_decay: η > 0 and λ > 0 (constant, as the lemma assumes).
        log_v_range: ln(V/v_min) ≥ 0, the largest over coordinates of the range of
            ṽ = (√v + ε)² over the run (a larger value gives a valid, looser cap).
        steps, x0_norm: t and ‖x_0‖∞ for the finite-t form.

    >>> lemma_4_3_radius((0.99, 0.99), 1e-2, 2.0, 30.0)
    0.5
    >>> round(lemma_4_3_radius((0.9, 0.999), 1e-3, 1.0, 3.0), 4)   # sqrt(1 + K ln), K = 1
    2.0
    """
    log_v_range = validation.nonneg_finite("log_v_range", log_v_range)
    if steps is None:
        return float(bounds.iterate_bound_from_log_range(_T_LIMIT, log_v_range, betas, lr,
                                                         weight_decay))
    steps = validation.nonneg_int("steps", steps)
    return float(bounds.iterate_bound_from_log_range(steps, log_v_range, betas, lr, weight_decay,
                                                     x0_norm=x0_norm))


class SecondMomentRange:
    r"""Running max V and min v_min over steps of ṽ = (√v + ε)², v = Adam's ``exp_avg_sq``
    (no bias correction), for Lemma 4.3's ln(V/v_min); coordinates with ṽ = 0 (no gradient yet)
    do not count.

    ``per_coordinate=False`` (default) keeps two floats: the max and the positive min over all
    coordinates of the tensors, so :meth:`log_range` is ln(max V / min v_min), an upper bound of
    the per-coordinate range the lemma needs (valid, looser).  ``per_coordinate=True`` keeps two
    tensors per parameter (in its dtype) and returns the exact largest per-coordinate range.
    """

    def __init__(self, params, eps: float = 0.0, per_coordinate: bool = False):
        self.params = list(params)
        self.eps = validation.nonneg_finite("eps", eps)
        self.per_coordinate = bool(per_coordinate)
        if self.per_coordinate:
            self.v_max = [torch.zeros_like(p) for p in self.params]
            self.v_min = [torch.full_like(p, math.inf) for p in self.params]
        else:
            self.v_max, self.v_min = 0.0, math.inf

    @torch.no_grad()
    def update(self, optimizer) -> None:
        """Fold in the current ``exp_avg_sq`` of each tensor (tensors without one are skipped:
        Lion's, Muon's matrices).  ``optimizer``: one, a list, or an object with ``optimizers``."""
        states = [opt.state for opt in _optimizer_list(optimizer)]
        extremes = []
        for i, p in enumerate(self.params):
            state = next((st[p] for st in states if p in st), {})
            v = state.get("exp_avg_sq")
            if v is None or v.numel() == 0:
                continue
            if self.per_coordinate:
                vmax, vmin = self.v_max[i], self.v_min[i]
                v_tilde = (v.sqrt() + self.eps).square()
                torch.maximum(vmax, v_tilde, out=vmax)
                # coordinates whose gradients were all 0 so far (v~ = 0) do not count (0/0 := 0)
                vmin.copy_(torch.where(v_tilde > 0, torch.minimum(vmin, v_tilde), vmin))
            else:
                v_tilde = (v.detach().double().sqrt() + self.eps).square()
                extremes.append(torch.stack([v_tilde.max(), torch.where(
                    v_tilde > 0, v_tilde, math.inf).min()]))
        if extremes:  # one device-to-host copy per step
            (vmax, vmin) = torch.stack(extremes).cpu().T.tolist()
            self.v_max = max([self.v_max] + vmax)
            self.v_min = min([self.v_min] + vmin)

    @torch.no_grad()
    def log_range(self) -> float:
        r"""ln(V/v_min) (0 before any positive ṽ)."""
        if not self.per_coordinate:
            return math.log(self.v_max / self.v_min) if math.isfinite(self.v_min) else 0.0
        best = 0.0
        for vmax, vmin in zip(self.v_max, self.v_min):
            ok = torch.isfinite(vmin) & (vmin > 0)
            if ok.any():
                best = max(best, float((vmax[ok].double().log() - vmin[ok].double().log()).max()))
        return best


# ----------------------------------------------------------------------------- groups
def _optimizer_list(optimizer) -> list:
    inner = getattr(optimizer, "optimizers", None)
    if inner is not None:
        return list(inner)
    if isinstance(optimizer, (list, tuple)):
        out = []
        for opt in optimizer:
            out.extend(_optimizer_list(opt))
        return out
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"expected a torch.optim.Optimizer (or a list of them), "
                        f"got {type(optimizer).__name__}")
    return [optimizer]


@dataclass
class GroupSettings:
    """What the monitor reads from one parameter group.  ``kind``: ``"adamw"`` (decoupled
    decay), ``"adam-l2"``, ``"lion"``, ``"nsd"`` or ``"muon"``."""

    label: str
    kind: str
    lr: float
    weight_decay: float
    betas: tuple | None = None
    eps: float = 0.0
    bias_correction: bool = False
    norm: str = "linf"
    extra: dict = field(default_factory=dict)


def _settings(opt, group: dict, label: str) -> GroupSettings:
    from . import optim

    name = type(opt).__name__
    lr, wd = float(group["lr"]), float(group["weight_decay"])
    if isinstance(opt, optim._AdamBase):
        kind = "adamw" if opt._decoupled else "adam-l2"
        return GroupSettings(label, kind, lr, wd, tuple(group["betas"]), float(group["eps"]),
                             bool(group["bias_correction"]))
    if isinstance(opt, (torch.optim.Adam, torch.optim.AdamW)):
        kind = "adamw" if group.get("decoupled_weight_decay", False) else "adam-l2"
        return GroupSettings(label, kind, lr, wd, tuple(group["betas"]), float(group["eps"]), True,
                             extra=dict(amsgrad=bool(group.get("amsgrad", False))))
    if isinstance(opt, optim.Lion):
        return GroupSettings(label, "lion", lr, wd, tuple(group["betas"]))
    if isinstance(opt, optim.NormalizedSteepestDescent):
        return GroupSettings(label, "nsd", lr, wd, norm=opt.norm.name)
    if isinstance(opt, torch.optim.Muon):
        return GroupSettings(label, "muon", lr, wd, norm="spectral",
                             extra=dict(adjust_lr_fn=group["adjust_lr_fn"],
                                        ns_coefficients=tuple(group["ns_coefficients"]),
                                        ns_steps=int(group["ns_steps"])))
    raise TypeError(f"unsupported optimizer {name}: supported are torch.optim.AdamW, "
                    f"torch.optim.Adam, torch.optim.Muon and implicit_bias.optim's AdamW, AdamL2, "
                    f"Adam, Lion, NormalizedSteepestDescent")


def _groups(optimizer) -> list[tuple[GroupSettings, list]]:
    opts = _optimizer_list(optimizer)
    out = []
    for k, opt in enumerate(opts):
        for i, group in enumerate(opt.param_groups):
            prefix = f"optimizer {k} " if len(opts) > 1 else ""
            label = f"{prefix}{type(opt).__name__} group {i}"
            out.append((_settings(opt, group, label), group["params"]))
    return out


def _row_norm(settings: GroupSettings, p) -> str:
    if settings.norm == "spectral":
        return "spectral" if p.ndim == 2 else "linf"
    return settings.norm


def group_radius(settings: GroupSettings, norm: str, shape, log_v_range: float | None = None,
                 lr_changed: bool = False) -> tuple[float | None, str]:
    """``(radius, note)`` of a tensor of this ``shape`` and row ``norm`` in a group (rules in the
    module docstring); ``radius`` is ``None`` where no constraint is implied."""
    s, notes = settings, []
    if s.kind == "adam-l2":
        return None, "ℓ2-coupled decay: no norm constraint implied"
    if s.weight_decay == 0.0:
        return None, "weight decay 0: no constraint"
    if s.kind == "muon" and norm == "spectral":
        radius = muon.muon_radius(tuple(shape), s.weight_decay, s.extra["adjust_lr_fn"],
                                  s.extra["ns_coefficients"], s.extra["ns_steps"])
        return radius, "s·c_NS/λ (bfloat16 Newton–Schulz: about 1% more)"
    if s.kind in ("lion", "nsd", "muon"):
        note = "" if norm in ("linf", "spectral") else f"bounds the {norm} norm of all tensors"
        return 1.0 / s.weight_decay, note
    beta1, beta2 = s.betas
    if beta1 > beta2:
        return None, "β1 > β2: no radius implied (App. B.3)"
    if s.bias_correction and beta1 < beta2:
        notes.append("bias correction: the cap applies once β1^t, β2^t ≈ 0")
    if s.extra.get("amsgrad"):
        notes.append("amsgrad: max of v in the denominator only shrinks updates")
    if beta1 == beta2:
        return 1.0 / s.weight_decay, "; ".join(notes)
    if log_v_range is None:
        notes.append("Lemma 4.3 needs the range of v: use ConstraintMonitor or log_v_range=")
        return None, "; ".join(notes)
    notes.append("Lemma 4.3 cap")
    if lr_changed:
        notes.append("lr schedule: cap at the largest lr")
    return lemma_4_3_radius(s.betas, s.lr, s.weight_decay, log_v_range), "; ".join(notes)


# ----------------------------------------------------------------------------- warnings
def _check_group(settings: GroupSettings, params, states, eps_tolerance: float) -> list:
    """``(hypothesis, message)`` for each hypothesis the group leaves."""
    s, out = settings, []
    if s.kind == "adam-l2":
        out.append(("adam-l2", f"{s.label}: weight decay is ℓ2-coupled (Adam with weight_decay, not AdamW), "
                   f"so no ℓ∞ constraint is implied; use decoupled decay (AdamW) for one"))
        return out
    if s.weight_decay == 0.0:
        out.append(("weight-decay-0", f"{s.label}: weight decay 0, so there is no implicit constraint (radius 1/λ "
                   f"is infinite)"))
    if s.lr * s.weight_decay > 1.0:
        out.append(("lr-wd", f"{s.label}: λη = {s.lr * s.weight_decay:g} > 1, the decay factor 1 - λη is "
                   f"negative and Lemma 3.1 does not apply"))
    if s.kind != "adamw":
        return out
    beta1, beta2 = s.betas
    if beta1 > beta2:
        out.append(("beta1>beta2", f"{s.label}: β1 = {beta1:g} > β2 = {beta2:g} leaves Theorem 1.1 and Lemma 4.2 "
                   f"(they need β1 ≤ β2); the iterates may leave the ℓ∞ ball (App. B.3)"))
    if s.eps > 0.0:
        share = _eps_share(params, states, s, eps_tolerance)
        if share is not None and share > 0.5:
            out.append(("eps", f"{s.label}: ε = {s.eps:g} is not negligible against √v: "
                       f"ε > {eps_tolerance:g}·(√v + ε) on {share:.0%} of the coordinates; "
                       f"Theorem 1.1 needs ε = 0 (ε only shrinks updates: the radius still bounds)"))
    return out


@torch.no_grad()
def _eps_share(params, states, s: GroupSettings, tol: float) -> float | None:
    """Fraction of the coordinates with v > 0 where ε > tol·(√v̂ + ε), v̂ bias-corrected if the
    optimizer corrects (None before any state)."""
    count = total = 0
    for p in params:
        state = next((st[p] for st in states if p in st), {})
        v = state.get("exp_avg_sq")
        if v is None:
            continue
        v = v.detach().double()
        if s.bias_correction:
            step = float(state.get("step", 1))
            v = v / (1.0 - s.betas[1] ** max(step, 1.0))
        denom = v.sqrt() + s.eps
        active = v > 0
        count += int((s.eps > tol * denom)[active].sum())
        total += int(active.sum())
    return count / total if total else None


def _warn(messages, stacklevel: int = 3) -> None:
    """Issue each ``(key, message)``; ``stacklevel`` points at the user's line."""
    import warnings

    for _, message in messages:
        warnings.warn(message, ConstraintWarning, stacklevel=stacklevel)


# ----------------------------------------------------------------------------- the report
class ConstraintReport(list):
    """The rows of :func:`constraint_report` (a list of dicts) with printable forms."""

    def table(self, markdown: bool = False) -> str:
        """Plain-text (or markdown) table of the rows; see :func:`format_report`."""
        return format_report(self, markdown=markdown)

    def summary(self) -> list[dict]:
        """One dict per group: the row with the largest ratio (or value, where no radius)."""
        best: dict = {}
        for row in self:
            key = row["group"]
            score = row["ratio"] if row["ratio"] is not None else -1.0 / (1.0 + row["value"])
            kept = best.get(key)
            if kept is None or score > kept[0]:
                best[key] = (score, row)
        out = []
        for key, (_, row) in best.items():
            kkts = [r["kkt_residual"] for r in self if r["group"] == key
                    and r["kkt_residual"] is not None]
            out.append(dict(group=key, norm=row["norm"], max_ratio=row["ratio"],
                            worst_tensor=row["name"], max_value=row["value"],
                            radius=row["radius"], saturated=row["saturated"],
                            max_kkt_residual=max(kkts) if kkts else None))
        return out

    def __str__(self) -> str:
        return self.table()


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_report(rows, markdown: bool = False, columns=REPORT_COLUMNS) -> str:
    """A table of ``rows`` (dicts): aligned plain text, or a markdown table (``markdown=True``);
    ``None`` shows as ``—``, floats with 4 significant digits."""
    cells = [[_fmt(row.get(c)) for c in columns] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(r) + " |" for r in cells]
        return "\n".join(lines)
    widths = [max([len(c)] + [len(r[j]) for r in cells]) for j, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


@torch.no_grad()
def _row(name, p, settings: GroupSettings, tol: float, log_v_range, lr_changed,
         grad_scale: float = 0.0) -> dict:
    norm = _row_norm(settings, p)
    x = p.detach().double()
    if norm == "spectral":
        sv = torch.linalg.svdvals(x)
        value = float(sv.max()) if sv.numel() else 0.0
    elif norm == "linf":
        value = float(x.abs().max()) if x.numel() else 0.0
    else:
        from .norms import get_norm

        value = float(get_norm(norm).value(x.reshape(-1).cpu().numpy()))
    radius, note = group_radius(settings, norm, tuple(p.shape), log_v_range, lr_changed)
    ratio = saturated = None
    if radius is not None:
        ratio = value / radius
        edge = (1.0 - tol) * radius
        if norm == "spectral":
            saturated = float((sv >= edge).double().mean())
        elif norm == "linf":
            saturated = float((x.abs() >= edge).double().mean())
    residual = None
    if p.grad is not None and settings.kind != "adam-l2" and settings.weight_decay > 0:
        # the theorem's ball: 1/lambda (linf, l_p, spectral NSD); Muon's matrices: its radius
        kkt_radius = radius if (settings.kind == "muon" and norm == "spectral") \
            else 1.0 / settings.weight_decay
        g = p.grad.detach().double()
        if norm == "spectral":
            xs, gs = x.cpu().numpy(), g.cpu().numpy()
        else:
            xs, gs = x.reshape(-1).cpu().numpy(), g.reshape(-1).cpu().numpy()
        residual = kkt.kkt_residual(xs, gs, 1.0 / kkt_radius, norm, grad_scale)
    return dict(name=name, group=settings.label, shape=tuple(p.shape), norm=norm, value=value,
                radius=radius, ratio=ratio, saturated=saturated, kkt_residual=residual,
                note=note)


def _resolve(model, optimizer):
    """[(name, tensor, settings, group params)] for the given tensors, after the checks."""
    named = named_tensors(model)
    groups = _groups(optimizer)
    where = {}
    for settings, params in groups:
        for p in params:
            where.setdefault(id(p), (settings, params))
    out = []
    for name, p in named:
        if id(p) not in where:
            if not p.requires_grad:
                continue  # a frozen tensor the optimizer does not train
            raise ValueError(f"parameter {name!r} is not in the optimizer(s): pass every "
                             f"optimizer that trains it, or only the parameters they train")
        settings, params = where[id(p)]
        out.append((name, p, settings, params))
    if not out:
        raise ValueError("none of the given parameters is trained by the optimizer(s)")
    return out, groups


def constraint_report(model, optimizer, *, log_v_range=None, boundary_tolerance: float = 0.01,
                      eps_tolerance: float = 0.01, grad_scale: float = 0.0,
                      warn: bool = True) -> ConstraintReport:
    """The implicit constraint of every parameter tensor, one row each (see the module docstring).

    Args:
        model: an ``nn.Module``, an iterable of ``(name, tensor)`` pairs, a list of tensors or
            one tensor.  Each tensor that requires a gradient must be in one of the optimizers.
        optimizer: a supported optimizer, a list of them (Muon + AdamW), or an object with an
            ``optimizers`` list.
        log_v_range: ln(V/v_min) for groups with β1 < β2: one float for all, or a dict from group
            label to float (:class:`ConstraintMonitor` passes its own).
        boundary_tolerance: a coordinate is saturated if ``|x_i| >= (1 - tol) * radius``.
        eps_tolerance: ε counts as negligible where ε ≤ tol·(√v̂ + ε).
        grad_scale: s ≥ 0 of :func:`implicit_bias.kkt.kkt_residual`; 0 (default) is scale-free,
            so a tensor in the interior with a tiny gradient reads about 1; a typical gradient
            size makes the residual small there.
        warn: issue :class:`ConstraintWarning` for the groups' settings.

    Returns:
        a :class:`ConstraintReport` (list of dicts with ``name, group, shape, norm, value, radius,
        ratio, saturated, kkt_residual, note``).
    """
    tol = validation.unit_interval("boundary_tolerance", boundary_tolerance)
    eps_tol = validation.unit_interval("eps_tolerance", eps_tolerance)
    grad_scale = validation.nonneg_finite("grad_scale", grad_scale)
    rows, messages = _report(model, optimizer, log_v_range, tol, eps_tol, lr_changed=set(),
                             grad_scale=grad_scale)
    if warn:
        _warn(messages)
    return rows


def _report(model, optimizer, log_v_range, tol, eps_tol, lr_changed, overrides=None,
            grad_scale=0.0):
    """(rows, [((group, hypothesis), message)]) of the groups that hold a given tensor."""
    items, groups = _resolve(model, optimizer)
    states = [opt.state for opt in _optimizer_list(optimizer)]
    messages = [((settings.label, key), message) for settings, params in groups
                if any(s is settings for _, _, s, _ in items)
                for key, message in _check_group(settings, params, states, eps_tol)]
    rows = ConstraintReport()
    for name, p, settings, _ in items:
        if overrides and settings.label in overrides:
            settings = overrides[settings.label]
        log_range = log_v_range.get(settings.label) if isinstance(log_v_range, dict) \
            else log_v_range
        if log_range is not None:
            log_range = validation.nonneg_finite("log_v_range", log_range)
        rows.append(_row(name, p, settings, tol, log_range, settings.label in lr_changed,
                         grad_scale))
    return rows, messages


# ----------------------------------------------------------------------------- the monitor
class ConstraintMonitor:
    """Call after ``optimizer.step()`` in any training loop::

        monitor = ConstraintMonitor(model, optimizer, every=10, path="constraint.csv")
        for batch in data:
            ...; optimizer.step(); monitor()
        monitor.plot()

    Every step it folds the second moments into one :class:`SecondMomentRange` per Adam-type
    group (two floats each by default) and checks the learning rates (an increase warns once
    per group); every ``every`` steps it takes :func:`constraint_report` and keeps its
    :meth:`ConstraintReport.summary` (one dict per group, columns :data:`HISTORY_COLUMNS`) in
    ``history`` (a list), appended to the CSV file ``path`` if given.  Each warning is issued once.
    For β1 < β2 the radius uses the largest learning rate seen (see :func:`group_radius`).
    """

    def __init__(self, model, optimizer, every: int = 10, path=None, *,
                 per_coordinate: bool = False, boundary_tolerance: float = 0.01,
                 eps_tolerance: float = 0.01):
        self.every = validation.positive_int("every", every)
        self.tol = validation.unit_interval("boundary_tolerance", boundary_tolerance)
        self.eps_tol = validation.unit_interval("eps_tolerance", eps_tolerance)
        self.model, self.optimizer = model, optimizer
        items, groups = _resolve(model, optimizer)
        self.step = 0
        self.history: list[dict] = []
        self.path = None if path is None else Path(path)
        self._warned: set = set()
        self._ranges = {s.label: SecondMomentRange(params, s.eps, per_coordinate)
                        for s, params in groups if s.kind in ("adamw", "adam-l2")}
        self._lr = {s.label: s.lr for s, _ in groups}
        self._max_lr = dict(self._lr)
        self._lr_changed: set[str] = set()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("w", newline="") as f:
                csv.writer(f).writerow(HISTORY_COLUMNS)

    def __call__(self) -> None:
        self.step += 1
        groups = _groups(self.optimizer)
        messages = []
        for settings, _ in groups:
            label, lr = settings.label, settings.lr
            if lr != self._lr.get(label, lr):
                self._lr_changed.add(label)
            if lr > self._lr.get(label, lr):
                messages.append(((label, "lr-increase"), f"{label}: the learning rate increased from {self._lr[label]:g} "
                                f"to {lr:g} at step {self.step}; Lemma 4.3 assumes a constant "
                                f"and Theorem 1.1 a non-increasing learning rate"))
            self._lr[label] = lr
            self._max_lr[label] = max(self._max_lr.get(label, lr), lr)
        for tracker in self._ranges.values():
            tracker.update(self.optimizer)
        if self.step % self.every == 0:
            self._record(messages)
        else:
            self._warn_once(messages, depth=2)

    def _warn_once(self, messages, depth: int = 1) -> None:
        """Warn each (group, hypothesis) once; ``depth``: frames between the user and here."""
        fresh = [(key, m) for key, m in messages if key not in self._warned]
        self._warned.update(key for key, _ in fresh)
        _warn(fresh, stacklevel=depth + 2)

    def report(self, warn: bool = True, _depth: int = 1) -> ConstraintReport:
        """The :func:`constraint_report` now, with this monitor's second-moment ranges and, for
        β1 < β2 under a changing learning rate, the largest learning rate seen."""
        overrides = {}
        for settings, _ in _groups(self.optimizer):
            if settings.label in self._lr_changed:
                settings.lr = self._max_lr[settings.label]
                overrides[settings.label] = settings
        ranges = {label: r.log_range() for label, r in self._ranges.items()}
        rows, messages = _report(self.model, self.optimizer, ranges, self.tol, self.eps_tol,
                                 self._lr_changed, overrides)
        if warn:
            self._warn_once(messages, depth=_depth + 1)
        return rows

    def _record(self, messages) -> None:
        self._warn_once(messages, depth=3)
        rows = self.report(_depth=3)
        lrs = {s.label: s.lr for s, _ in _groups(self.optimizer)}
        new = []
        for summary in rows.summary():
            label = summary["group"]
            log_range = self._ranges[label].log_range() if label in self._ranges else None
            new.append(dict(step=self.step, lr=lrs[label], log_v_range=log_range, **summary))
        self.history.extend(new)
        if self.path is not None:
            with self.path.open("a", newline="") as f:
                writer = csv.writer(f)
                for rec in new:
                    writer.writerow(["" if rec[c] is None else rec[c] for c in HISTORY_COLUMNS])

    def plot(self, ax=None):
        """``max_ratio`` (value/radius of each group's worst tensor) over the recorded steps,
        with the radius at 1; returns the figure."""
        from . import plotting

        if ax is None:
            fig, ax = plotting.subplots()
        else:
            fig = ax.figure
        for label in dict.fromkeys(r["group"] for r in self.history):
            recs = [r for r in self.history if r["group"] == label and r["max_ratio"] is not None]
            if recs:
                ax.plot([r["step"] for r in recs], [r["max_ratio"] for r in recs], label=label)
        ax.axhline(1.0, **plotting.BOUND_STYLE)
        ax.set(xlabel="step", ylabel="norm / implicit radius")
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        return fig
