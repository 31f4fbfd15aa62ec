r"""Tracking over steps: the second-moment range Lemma 4.3 needs, the learning rates, and
:class:`ConstraintMonitor`, which calls the report every few steps inside a training loop.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch

from .. import validation
from . import hypotheses
from .formatting import HISTORY_COLUMNS
from .report import ConstraintReport, build_report
from .rules import optimizer_list, parameter_groups

__all__ = ["SecondMomentRange", "ConstraintMonitor"]


def _moment(states, p):
    for state in states:
        if p in state:
            v = state[p].get("exp_avg_sq")
            if v is None or v.is_meta or v.numel() == 0:
                return None
            return v.to_local() if hasattr(v, "to_local") else v
    return None


class SecondMomentRange:
    r"""Running max :math:`V` and min :math:`v^{\min}` over steps of :math:`\tilde v=(\sqrt v+\epsilon)^2`,
    :math:`v` = Adam's ``exp_avg_sq`` (no bias correction), for Lemma 4.3's :math:`\ln(V/v^{\min})`;
    with :math:`\epsilon=0`, coordinates with :math:`v=0` (no gradient yet) do not count.

    ``per_coordinate=False`` (default) keeps two scalars per tensor, in its own dtype and on its
    device: the largest and the smallest :math:`v` over the tensor's coordinates and the steps,
    updated in place every step (one ``aminmax`` pass over :math:`v`).  A tensor's range
    :math:`\ln(V/v^{\min})` then bounds the range of each of its coordinates, so Lemma 4.3's cap
    computed with it is valid for every coordinate of the tensor, only looser than with the
    per-coordinate range.  ``per_coordinate=True`` keeps two tensors per parameter and gives the
    exact largest per-coordinate range (what the PTB trainer records).
    """

    def __init__(self, params, eps: float = 0.0, per_coordinate: bool = False):
        self.params = list(params)
        self.eps = validation.nonneg_finite("eps", eps)
        self.per_coordinate = bool(per_coordinate)
        if self.per_coordinate:
            self.v_max = [torch.zeros_like(p) for p in self.params]
            self.v_min = [torch.full_like(p, math.inf) for p in self.params]
        else:  # 0-dim tensors, created at a tensor's first second moment
            self.v_max, self.v_min = [None] * len(self.params), [None] * len(self.params)
        self._index = {id(p): i for i, p in enumerate(self.params)}
        self._cache = None

    @torch.no_grad()
    def update(self, optimizer) -> None:
        """Fold in the current ``exp_avg_sq`` of each tensor (tensors without one are skipped:
        Lion's, Muon's matrices).  ``optimizer``: one, a list, or an object with ``optimizers``."""
        states = [opt.state for opt in optimizer_list(optimizer)]
        self._cache = None
        if self.per_coordinate:
            return self._update_coordinates(states)
        fresh, maxima, minima, new_max, new_min = [], [], [], [], []
        for i, p in enumerate(self.params):
            v = _moment(states, p)
            if v is None:
                continue
            low, high = torch.aminmax(v)
            if self.eps == 0.0 and (v.device.type != "cpu" or low == 0):
                # v = 0 (no gradient yet) does not count; on a GPU always masked (no host sync)
                low = torch.where(v > 0, v, math.inf).amin()
            if self.v_max[i] is None:
                fresh.append((i, high, low))
            else:
                maxima.append(self.v_max[i]), new_max.append(high)
                minima.append(self.v_min[i]), new_min.append(low)
        if maxima:
            torch._foreach_maximum_(maxima, new_max)
            torch._foreach_minimum_(minima, new_min)
        for i, high, low in fresh:
            self.v_max[i], self.v_min[i] = high.clone(), low.clone()

    def _update_coordinates(self, states) -> None:
        for i, p in enumerate(self.params):
            v = _moment(states, p)
            if v is None:
                continue
            vmax, vmin = self.v_max[i], self.v_min[i]
            v_tilde = (v.sqrt() + self.eps).square()
            torch.maximum(vmax, v_tilde, out=vmax)
            # coordinates whose gradients were all 0 so far (v~ = 0) do not count (0/0 := 0)
            vmin.copy_(torch.where(v_tilde > 0, torch.minimum(vmin, v_tilde), vmin))

    @torch.no_grad()
    def tensor_log_ranges(self) -> list[float | None]:
        r"""Per tensor, :math:`\ln(V/v^{\min})` of its :math:`\tilde v` (``None`` before its first
        second moment, 0 before any positive :math:`\tilde v`, NaN if :math:`v` was not finite)."""
        if self.per_coordinate:
            return [self._coordinate_range(vmax, vmin) for vmax, vmin in zip(self.v_max, self.v_min)]
        return [None if pair is None else self._fold_range(*pair) for pair in self._extremes()]

    def _extremes(self) -> list[tuple[float, float] | None]:
        """(max v, min v) per tensor as floats, read with one stack and one host copy per step."""
        if self._cache is None:
            present = [i for i, v in enumerate(self.v_max) if v is not None]
            self._cache = [None] * len(self.params)
            if present:
                values = torch.stack([t.double() for i in present
                                      for t in (self.v_max[i], self.v_min[i])]).cpu().tolist()
                for k, i in enumerate(present):
                    self._cache[i] = (values[2 * k], values[2 * k + 1])
        return self._cache

    def _fold_range(self, vmax: float, vmin: float) -> float:
        if math.isnan(vmax) or math.isnan(vmin) or math.isinf(vmax):
            return math.nan
        if math.isinf(vmin):  # no positive v yet (eps = 0)
            return 0.0
        high, low = math.sqrt(vmax) + self.eps, math.sqrt(vmin) + self.eps
        return 2.0 * math.log(high / low) if low > 0 else 0.0

    @staticmethod
    def _coordinate_range(vmax, vmin) -> float:
        ok = torch.isfinite(vmin) & (vmin > 0)
        if not ok.any():
            return 0.0
        return float((vmax[ok].double().log() - vmin[ok].double().log()).max())

    def log_range(self) -> float:
        r""":math:`\ln(V/v^{\min})` over all tracked tensors (the largest tensor range; 0 before
        any positive :math:`\tilde v`; NaN if a second moment was not finite)."""
        ranges = [r for r in self.tensor_log_ranges() if r is not None]
        if any(math.isnan(r) for r in ranges):
            return math.nan
        return max(ranges, default=0.0)

    def zero_moment(self, p) -> bool:
        """True if ``p``'s second moment has been exactly 0 so far (gradients all 0)."""
        i = self._index.get(id(p))
        if i is None or self.per_coordinate or self.v_max[i] is None:
            return False
        return self._extremes()[i][0] == 0.0


class ConstraintMonitor:
    """Call after ``optimizer.step()`` in any training loop::

        monitor = ConstraintMonitor(model, optimizer, every=10, path="constraint.csv")
        for batch in data:
            ...; optimizer.step(); monitor()
        monitor.plot()

    Every step it reads each group's learning rate (λη > 1 warns at once; a change marks the
    group's lr as not constant, so Lemma 4.3, proved for a constant lr, is no longer used for
    it: the radius falls back to the schedule-free M/λ) and folds the second moments into one
    :class:`SecondMomentRange` per Adam-type group (two scalars per tensor).  Every ``every``
    steps it takes the report and appends :meth:`ConstraintReport.by_group` (columns
    :data:`HISTORY_COLUMNS`) to ``history`` and to the CSV file ``path`` if given.  Each warning
    is issued once per group and hypothesis.

    It never raises inside the loop: a tensor it cannot measure (NaN, inf, meta, empty) gets a
    NaN value and a note, and an unexpected error skips the step with a :class:`ConstraintWarning`.
    Wrong arguments raise at construction.
    """

    def __init__(self, model, optimizer, every: int = 10, path=None, *,
                 per_coordinate: bool = False, boundary_tolerance: float = 0.01,
                 eps_tolerance: float = 0.01, track_second_moment: bool = True,
                 sharded: bool = False):
        self.every = validation.positive_int("every", every)
        self.tol = validation.unit_interval("boundary_tolerance", boundary_tolerance)
        self.eps_tol = validation.unit_interval("eps_tolerance", eps_tolerance)
        self.model, self.optimizer, self.sharded = model, optimizer, bool(sharded)
        build_report(model, optimizer, tolerance=self.tol, eps_tolerance=self.eps_tol,
                     check_eps=lambda label: False)  # the caller's mistakes raise here, once
        groups = parameter_groups(optimizer)
        self.step = 0
        self.history: list[dict] = []
        self.path = None if path is None else Path(path)
        self._warned: set = set()
        self._ranges = {}
        if track_second_moment:
            for s, params, _ in groups:
                if s.family.tracks_second_moment:
                    # torch's bias-corrected step divides by sqrt(v_hat) + eps, i.e. folds
                    # eps_t = eps sqrt(1 - beta2^t) >= eps sqrt(1 - beta2) into v
                    eps = s.eps * math.sqrt(1.0 - s.betas[1]) if s.bias_correction else s.eps
                    self._ranges[s.label] = SecondMomentRange(params, eps, per_coordinate)
        self._lr = {s.label: s.lr for s, _, _ in groups}
        self._lr_constant = {s.label: True for s, _, _ in groups}
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("w", newline="") as f:
                csv.writer(f).writerow(HISTORY_COLUMNS)

    def __call__(self) -> None:
        self.step += 1
        try:
            messages = self._track()
            if self.step % self.every == 0:
                self._record(messages)
            else:
                self._warn_once(messages, depth=2)
        except Exception as error:  # never break the loop being watched
            self._warn_once([(("monitor", type(error).__name__),
                              f"ConstraintMonitor skipped step {self.step}: "
                              f"{type(error).__name__}: {error}")], depth=2)

    def _track(self) -> list:
        """Per step: learning rates (changes, λη > 1) and the second-moment ranges."""
        messages = []
        for s, _, _ in parameter_groups(self.optimizer):
            before = self._lr.get(s.label, s.lr)
            if s.lr != before:
                self._lr_constant[s.label] = False
            if s.lr > before and before > 0:
                messages.append(((s.label, "lr-increase"), f"{s.label}: the learning rate increased "
                                 f"from {before:g} to {s.lr:g} at step {self.step}; Theorem 1.1 "
                                 f"assumes a non-increasing learning rate (warm-ups are common: "
                                 f"the radius M/λ still holds, Lemma 4.3 is no longer used)"))
            if validation.decay_flips_sign(s.lr, s.weight_decay):
                messages.append(((s.label, "lr-wd"), f"{s.label}: λη = {s.lr * s.weight_decay:g} > 1 "
                                 f"at step {self.step}: the decay factor 1 - λη is negative and "
                                 f"Lemma 3.1 does not apply"))
            self._lr[s.label] = s.lr
        for tracker in self._ranges.values():
            tracker.update(self.optimizer)
        return messages

    def _warn_once(self, messages, depth: int = 1) -> None:
        """Warn each (group, hypothesis) once; ``depth``: frames between the user and here."""
        fresh = [(key, m) for key, m in messages if key not in self._warned]
        self._warned.update(key for key, _ in fresh)
        hypotheses.warn(fresh, stacklevel=depth + 2)

    def _tensor_ranges(self) -> dict:
        out = {}
        for tracker in self._ranges.values():
            out.update(zip(map(id, tracker.params), tracker.tensor_log_ranges()))
        return out

    def report(self, warn: bool = True, _depth: int = 1) -> ConstraintReport:
        """The report now, with this monitor's per-tensor second-moment ranges and its knowledge
        of which groups kept a constant learning rate."""
        ranges = self._tensor_ranges()
        trackers = list(self._ranges.values())
        rows, messages = build_report(
            self.model, self.optimizer, tolerance=self.tol, eps_tolerance=self.eps_tol,
            sharded=self.sharded, log_range=lambda p, s: ranges.get(id(p)),
            lr_constant=lambda s: self._lr_constant.get(s.label, True),
            zero_moment=lambda p: any(t.zero_moment(p) for t in trackers),
            check_eps=lambda label: (label, "eps") not in self._warned)
        if warn:
            self._warn_once(messages, depth=_depth + 1)
        return rows

    def _record(self, messages) -> None:
        self._warn_once(messages, depth=3)
        rows = self.report(_depth=3)
        new = []
        for record in rows.by_group():
            label = record["group"]
            tracker = self._ranges.get(label)
            new.append(dict(step=self.step, lr=self._lr.get(label),
                            log_v_range=None if tracker is None else tracker.log_range(), **record))
        self.history.extend(new)
        if self.path is not None:
            with self.path.open("a", newline="") as f:
                writer = csv.writer(f)
                for rec in new:
                    writer.writerow(["" if rec[c] is None else rec[c] for c in HISTORY_COLUMNS])

    def plot(self, ax=None):
        """``max_ratio`` (value/radius of each group's worst trained tensor) over the recorded
        steps, one line per group with a finite radius, the radius at 1; returns the figure."""
        from .. import plotting

        if ax is None:
            fig, ax = plotting.subplots()
        else:
            fig = ax.figure
        for label in dict.fromkeys(r["group"] for r in self.history):
            recs = [r for r in self.history if r["group"] == label and r["max_ratio"] is not None
                    and r["radius"] is not None and math.isfinite(r["radius"])]
            if recs:
                ax.plot([r["step"] for r in recs], [r["max_ratio"] for r in recs], label=label)
        ax.axhline(1.0, **plotting.BOUND_STYLE)
        ax.set(xlabel="step", ylabel="norm / implicit radius")
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        return fig
