"""The theorems' hypotheses, checked per parameter group, and the warnings that name them.

Each check returns ``[(key, message)]`` with ``key = (group label, hypothesis)``, so that
:class:`~implicit_bias.monitor.ConstraintMonitor` can warn once per group and hypothesis.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict

import torch

from .. import validation
from .rules import GroupSettings, adam_update_bound, decay_is_representable

__all__ = ["ConstraintWarning", "settings_messages", "eps_message", "warn"]

# the eps check looks at most this many coordinates per tensor (a strided sample): it only decides
# a warning, and a full pass over every second moment would cost a third of a report
_EPS_SAMPLE = 4096


class ConstraintWarning(UserWarning):
    """A parameter group's settings, or its tensors, leave the hypotheses of the paper's results."""


def settings_messages(s: GroupSettings, dtypes=()) -> list:
    """The hypotheses that the group's settings (and its tensors' ``dtypes``) leave."""
    out, lam, eta = [], s.weight_decay, s.lr
    if s.kind == "adam-l2" and lam != 0:
        out.append(("adam-l2", f"{s.label}: weight decay is ℓ2-coupled (Adam with weight_decay, not "
                               f"AdamW), so no ℓ∞ constraint is implied; use decoupled decay (AdamW) for one"))
        return out
    if lam < 0:
        out.append(("negative-decay", f"{s.label}: weight decay {lam:g} < 0 grows the weights; "
                                      f"no constraint is implied"))
    elif lam == 0:
        out.append(("weight-decay-0", f"{s.label}: weight decay 0, so there is no implicit "
                                      f"constraint (radius 1/λ is infinite)"))
    if validation.decay_flips_sign(eta, lam):
        out.append(("lr-wd", f"{s.label}: λη = {lam * eta:g} > 1, the decay factor 1 - λη is "
                             f"negative and Lemma 3.1 does not apply"))
    for dtype in dict.fromkeys(dtypes):
        if lam > 0 and eta > 0 and not decay_is_representable(eta, lam, dtype):
            out.append((f"resolution-{dtype}", f"{s.label}: λη = {lam * eta:.2g} is below half the "
                        f"resolution of {str(dtype).removeprefix('torch.')} ({torch.finfo(dtype).eps:.2g}): "
                        f"x·(1 - λη) rounds back to x, so the decay cannot act and no radius is implied"))
    if s.kind == "adamw":
        out.extend(_betas_messages(s))
    return out


def _betas_messages(s: GroupSettings) -> list:
    beta1, beta2 = s.betas
    if beta1 <= beta2:
        return []
    bound = adam_update_bound(s.betas, s.bias_correction)
    if math.isfinite(bound):
        tail = (f"the iterates stay within M/λ = {bound:.4g}/λ (β1² < β2) but may settle "
                f"outside 1/λ (App. B.3)")
    else:
        tail = "with β1² ≥ β2 no radius bounds the iterates (App. B.3)"
    return [("beta1>beta2", f"{s.label}: β1 = {beta1:g} > β2 = {beta2:g} leaves Theorem 1.1 "
                            f"(it needs β1 ≤ β2); {tail}")]


@torch.no_grad()
def eps_share(s: GroupSettings, params, state, tolerance: float) -> float | None:
    r"""Share of the (sampled) coordinates with :math:`v>0` where :math:`\epsilon>{\rm tol}\cdot
    (\sqrt{\hat v}+\epsilon)`, :math:`\hat v` bias-corrected if the optimizer corrects; ``None``
    before any state.  Up to :data:`_EPS_SAMPLE` evenly strided coordinates per tensor, gathered
    into one vector per device (a few kernels, one host copy, whatever the number of tensors)."""
    # eps > tol (sqrt(v_hat) + eps)  <=>  v_hat < (eps (1 - tol) / tol)^2
    threshold = (s.eps * (1.0 - tolerance) / tolerance) ** 2 if tolerance > 0 else math.inf
    groups = defaultdict(list)  # (device, step): the samples that share one threshold
    for p in params:
        v = state.get(p, {}).get("exp_avg_sq")
        if v is None or v.numel() == 0 or v.is_meta:
            continue
        step = state[p].get("step", 1) if s.bias_correction else 1
        step = float(step.item() if isinstance(step, torch.Tensor) else step)
        groups[v.device, step].append(v.reshape(-1)[:: max(1, v.numel() // _EPS_SAMPLE)])
    small = total = 0
    for (_, step), pieces in groups.items():
        limit = threshold  # v_hat = v / (1 - beta2^t) < threshold  <=>  v < threshold (1 - beta2^t)
        if s.bias_correction and s.betas[1] > 0:
            limit = threshold * -math.expm1(max(step, 1.0) * math.log(s.betas[1]))
        v = torch.cat(pieces)
        active = v > 0
        counts = torch.stack([(active & (v < limit)).sum(), active.sum()]).tolist()
        small, total = small + counts[0], total + counts[1]
    return small / total if total else None


def eps_message(s: GroupSettings, params, state, tolerance: float) -> list:
    """The ε hypothesis of Theorem 1.1, measured from the optimizer state."""
    if s.kind != "adamw" or s.eps <= 0:
        return []
    share = eps_share(s, params, state, tolerance)
    if share is None or share <= 0.5:
        return []
    return [("eps", f"{s.label}: ε = {s.eps:g} is not negligible against √v: ε > {tolerance:g}·(√v + ε) "
                    f"on {share:.0%} of the coordinates; Theorem 1.1 needs ε = 0 (ε only shrinks "
                    f"updates: the radius still bounds)")]


def warn(messages, stacklevel: int = 3) -> None:
    """Issue each ``(key, message)`` as a :class:`ConstraintWarning`; ``stacklevel`` points at the
    user's line."""
    for _, message in messages:
        warnings.warn(message, ConstraintWarning, stacklevel=stacklevel)
