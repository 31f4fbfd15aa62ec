"""The report: one row per parameter tensor, its norm against its group's implicit radius."""

from __future__ import annotations

import math
from collections.abc import Callable

from .. import validation
from . import hypotheses
from .formatting import format_report, format_value
from .rules import common_radius, parameter_groups
from .tensors import Request, measure, named_tensors

__all__ = ["ConstraintReport", "constraint_report", "build_report"]


class ConstraintReport(list):
    """The rows of :func:`constraint_report` (a list of dicts) with printable forms.

    ``skipped``: names of the given tensors that no given optimizer trains (not reported).
    """

    skipped: list

    def __init__(self, rows=(), skipped=()):
        super().__init__(rows)
        self.skipped = list(skipped)

    def table(self, markdown: bool = False) -> str:
        """Plain-text (or markdown) table of the rows, rule and note included."""
        return format_report(self, markdown=markdown)

    def by_group(self) -> list[dict]:
        """One dict per group (the columns of ``HISTORY_COLUMNS`` but ``step``, ``lr``,
        ``log_v_range``): its worst *trained* tensor, by ratio (by value where no radius)."""
        out = []
        for label in dict.fromkeys(row["group"] for row in self):
            rows = [r for r in self if r["group"] == label]
            trained = [r for r in rows if r["trained"] and not math.isnan(r["value"])]
            worst = max(trained, key=_badness, default=None)
            kkts = [r["kkt_residual"] for r in trained if r["kkt_residual"] is not None]
            out.append(dict(
                group=label, norm=(worst or rows[0])["norm"],
                max_ratio=None if worst is None else worst["ratio"],
                worst_tensor=None if worst is None else worst["name"],
                max_value=None if worst is None else worst["value"],
                radius=None if worst is None else worst["radius"],
                rule=None if worst is None else worst["rule"],
                saturated=None if worst is None else worst["saturated"],
                max_kkt_residual=max(kkts) if kkts else None))
        return out

    def summary(self) -> str:
        """One line: the worst trained tensor against its radius, and what was left out."""
        trained = [r for r in self if r["trained"] and not math.isnan(r["value"])]
        bounded = [r for r in trained if math.isfinite(r["radius"])]
        n_groups = len({r["group"] for r in self})
        parts = [f"{len(self)} tensor{'s' * (len(self) != 1)} in {n_groups} "
                 f"group{'s' * (n_groups != 1)}"]
        if bounded:
            w = max(bounded, key=_badness)
            parts.append(f"worst {w['name']}: {format_value(w['value'])} = "
                         f"{format_value(w['ratio'])} × radius {format_value(w['radius'])} "
                         f"({w['rule']}, {w['group']})")
        else:
            parts.append("no implicit radius applies (see the note column)")
        unbounded = len(trained) - len(bounded)
        if bounded and unbounded:
            parts.append(f"{unbounded} without a radius")
        if len(trained) < len(self):
            parts.append(f"{len(self) - len(trained)} untrained or not measurable")
        if self.skipped:
            parts.append(f"{len(self.skipped)} not trained by these optimizers (skipped)")
        return "; ".join(parts)

    def __str__(self) -> str:
        return self.table()


def _badness(row) -> float:
    ratio = row["ratio"]
    if math.isfinite(row["radius"]) and ratio is not None and not math.isnan(ratio):
        return ratio
    return -1.0 / (1.0 + row["value"])  # no radius: rank below every ratio, larger values first


# ----------------------------------------------------------------------------- building
def _resolve(model, optimizer):
    """([(name, tensor, settings, state)], skipped names, groups) after the caller checks."""
    named = named_tensors(model)
    groups = parameter_groups(optimizer)
    where = {}
    for settings, params, state in groups:
        for p in params:
            where.setdefault(id(p), (settings, state))
    items, skipped = [], []
    for name, p in named:
        if id(p) in where:
            items.append((name, p) + where[id(p)])
        else:
            skipped.append(name)
    if not items:
        raise ValueError("none of the given parameters is in the optimizer(s): pass the optimizer(s) "
                         "that train this model (or the parameters they train)")
    return items, skipped, groups


def _untrained(p, settings, state, zero_moment: Callable) -> str:
    if not p.requires_grad:
        return "untrained: frozen (requires_grad=False)"
    if settings.family.has_state and not state.get(p):
        return "untrained: no optimizer state (never had a gradient)"
    if zero_moment(p):
        return "untrained: zero gradients so far"
    return ""


def build_report(model, optimizer, *, tolerance: float, eps_tolerance: float,
                 grad_scale: float = 0.0, sharded: bool = False,
                 log_range: Callable = lambda p, s: None,
                 lr_constant: Callable = lambda s: None,
                 zero_moment: Callable = lambda p: False,
                 check_eps: Callable = lambda label: True):
    """(rows, [((group, hypothesis), message)]).  The callables carry what a monitor knows beyond
    the optimizer: a tensor's second-moment range, whether a group's lr stayed constant, whether
    a tensor's second moment is still 0, and whether the ε check is still worth its cost."""
    items, skipped, groups = _resolve(model, optimizer)
    requests, rows = [], []
    for name, p, s, state in items:
        norm = s.family.tensor_norm(s, p)
        radius = common_radius(s, p.dtype) or s.family.radius(
            s, norm, tuple(p.shape), log_range(p, s), lr_constant(s))
        kkt_radius = s.family.kkt_radius(s, norm, radius)
        requests.append(Request(p, norm, radius.value, kkt_radius, -1.0 if s.maximize else 1.0))
        rows.append(dict(name=name, group=s.label, shape=tuple(p.shape), norm=norm,
                         radius=radius.value, rule=radius.rule, note=radius.note,
                         trained=True, _untrained=_untrained(p, s, state, zero_moment)))
    for row, m in zip(rows, measure(requests, tolerance, grad_scale, sharded)):
        untrained = row.pop("_untrained")
        row.update(value=m.value, saturated=m.saturated, kkt_residual=m.kkt_residual,
                   ratio=m.value / row["radius"], trained=not untrained)
        row["note"] = "; ".join(n for n in (untrained, m.issue, row["note"]) if n)
        row["issue"] = m.issue
    messages = _messages(items, groups, rows, eps_tolerance, check_eps)
    return ConstraintReport(rows, skipped), messages


def _messages(items, groups, rows, eps_tolerance, check_eps) -> list:
    reported = {s.label for _, _, s, _ in items}
    out = []
    for s, params, state in groups:
        if s.label not in reported:
            continue
        dtypes = [p.dtype for p in params]
        found = hypotheses.settings_messages(s, dtypes)
        if check_eps(s.label):
            found += hypotheses.eps_message(s, params, state, eps_tolerance)
        out += [((s.label, key), message) for key, message in found]
    for label in reported:
        bad = [r for r in rows if r["group"] == label and r["issue"]]
        for issue in dict.fromkeys(r["issue"] for r in bad):
            names = [r["name"] for r in bad if r["issue"] == issue]
            out.append(((label, issue), f"{label}: {len(names)} tensor(s) not measured ({issue}), "
                                        f"e.g. {names[0]!r}"))
    return out


def constraint_report(model, optimizer, *, log_v_range=None, boundary_tolerance: float = 0.01,
                      eps_tolerance: float = 0.01, grad_scale: float = 0.0, warn: bool = True,
                      sharded: bool = False) -> ConstraintReport:
    """The implicit constraint of every parameter tensor, one row each (see :mod:`implicit_bias.monitor`).

    Args:
        model: an ``nn.Module`` (DDP, FSDP and ``torch.compile`` wrappers unwrapped), an iterable of
            ``(name, tensor)`` pairs, a list of tensors or one tensor.  Tensors that no given
            optimizer trains are skipped and listed in ``report.skipped``.
        optimizer: a supported optimizer, a list of them (Muon + AdamW), or an object with an
            ``optimizers`` list.
        log_v_range: ln(V/v_min) for Lemma 4.3 (β1 < β2): one float for all, or a dict from
            group label to float (:class:`ConstraintMonitor` tracks its own).  The report assumes
            the group's current learning rate has been constant (Lemma 4.3's hypothesis).
        boundary_tolerance: a coordinate is saturated if ``|x_i| >= (1 - tol) * radius``.
        eps_tolerance: ε counts as negligible where ε ≤ tol·(√v̂ + ε).
        grad_scale: s ≥ 0 of :func:`implicit_bias.kkt.kkt_residual`; 0 (default) is scale-free.
        warn: issue :class:`ConstraintWarning` for the groups' settings and unmeasurable tensors.
        sharded: the tensors are shards of a model split across ranks: combine across ranks
            (automatic for DTensor parameters).

    Returns:
        a :class:`ConstraintReport` (list of dicts with ``name, group, shape, norm, value, radius,
        rule, ratio, saturated, kkt_residual, note, trained``).

    Raises:
        TypeError: ``model`` or ``optimizer`` is not of a supported kind.
        ValueError: a tolerance out of range, or no given tensor is in the optimizer(s).
    """
    tolerance = validation.unit_interval("boundary_tolerance", boundary_tolerance)
    eps_tolerance = validation.unit_interval("eps_tolerance", eps_tolerance)
    grad_scale = validation.nonneg_finite("grad_scale", grad_scale)
    ranges = _log_ranges(log_v_range)
    rows, messages = build_report(model, optimizer, tolerance=tolerance, eps_tolerance=eps_tolerance,
                                  grad_scale=grad_scale, sharded=bool(sharded),
                                  log_range=lambda p, s: ranges(s.label))
    if warn:
        hypotheses.warn(messages)
    return rows


def _log_ranges(log_v_range) -> Callable:
    """label -> ln(V/v_min) or None, after checking the values."""
    if log_v_range is None:
        return lambda label: None
    if isinstance(log_v_range, dict):
        checked = {k: validation.nonneg_finite("log_v_range", v) for k, v in log_v_range.items()}
        return checked.get
    value = validation.nonneg_finite("log_v_range", log_v_range)
    return lambda label: value

