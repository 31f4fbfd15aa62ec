r"""Which radius, for which optimizer: one small class per optimizer family, in one table.

Each family reads a parameter group into :class:`GroupSettings` and turns it into a
:class:`Radius` per tensor; the rules and their proofs are in the book's chapter
``ch-check-your-run`` (``prop-report-radius``).  A *radius* :math:`R` is a bound on
:math:`\limsup_t\|x_t\|` (the transient from :math:`x_0` decays as :math:`(1-\lambda\eta)^t`);
``math.inf`` where nothing is implied, with the reason in ``note``.

Rules common to every family (:func:`common_radius`): :math:`\lambda\le0`, :math:`\lambda\eta>1`
and a decay below the parameters' floating-point resolution imply no radius.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import torch

from .. import bounds, muon, validation

__all__ = ["Radius", "GroupSettings", "FAMILIES", "family_of", "optimizer_list", "parameter_groups",
           "lemma_4_3_radius", "adam_update_bound", "decay_is_representable"]

# t for the t -> infinity limit of bound (5): q^t, beta1^t underflow to 0 for any q, beta1 < 1
_T_LIMIT = 1e300
NO_RADIUS = "—"


@dataclass(frozen=True)
class Radius:
    """A tensor's implicit radius, the result (``rule``) that gives it, and remarks (``note``)."""

    value: float
    rule: str = NO_RADIUS
    note: str = ""


@dataclass
class GroupSettings:
    """What the monitor reads from one parameter group (Python numbers; a tensor lr is read once)."""

    label: str
    family: "Family"
    lr: float
    weight_decay: float
    betas: tuple | None = None
    eps: float = 0.0
    bias_correction: bool = False
    norm: str = "linf"
    maximize: bool = False
    amsgrad: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """Short name of the family (``"adamw"``, ``"adam-l2"``, ``"lion"``, ``"nsd"`` or ``"muon"``)."""
        return self.family.name


# ----------------------------------------------------------------------------- formulas
def adam_update_bound(betas, bias_correction: bool) -> float:
    r"""The largest AdamW update over all steps: :math:`M` of ``prop-max-adam-update``
    (:func:`~implicit_bias.bounds.max_update_size`), or its bias-corrected form
    :math:`\sup_t\theta_tM_t` (:func:`~implicit_bias.bounds.bias_corrected_update_size`);
    ``inf`` for :math:`\beta_1^2\ge\beta_2`."""
    return _adam_update_bound(tuple(map(float, betas)), bool(bias_correction))


@functools.lru_cache(maxsize=256)
def _adam_update_bound(betas, bias_correction):
    if bias_correction:
        return bounds.bias_corrected_update_size(betas)
    return bounds.max_update_size(betas)


@functools.lru_cache(maxsize=256)
def _bias_correction_peak(betas) -> float:
    return bounds.bias_correction_peak(betas)


def lemma_4_3_radius(betas, lr: float, weight_decay: float, log_v_range: float,
                     steps: int | None = None, x0_norm: float = 0.0) -> float:
    """Lemma 4.3's cap on ‖x_t‖∞ for AdamW with β1 ≤ β2 (``lem-4-3``), no bias correction.

    With ``steps=None`` (default) the t → ∞ limit of bound (5)
    (:func:`~implicit_bias.bounds.iterate_bound_from_log_range` at t → ∞): for λη < 1 - β1 this
    is (1/λ)·√(1 + K·ln(V/v_min)), and 1/λ for β1 = β2.  With ``steps=t`` the finite-t bound on
    ‖x_t‖∞: q^t·‖x_0‖∞ + bound (5), q = 1 - λη.

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
    t = _T_LIMIT if steps is None else validation.nonneg_int("steps", steps)
    return float(bounds.iterate_bound_from_log_range(betas, lr, weight_decay, t, log_v_range,
                                                     x0_norm=0.0 if steps is None else x0_norm))


def decay_is_representable(lr: float, weight_decay: float, dtype: torch.dtype) -> bool:
    r"""False when :math:`\lambda\eta<\varepsilon_{\rm dtype}/2`: then :math:`x(1-\lambda\eta)`
    rounds back to :math:`x` for the weights at the bottom of each binade (for all weights below
    :math:`\varepsilon/4`), so the decoupled decay cannot act in that dtype (bfloat16:
    :math:`\varepsilon=2^{-7}`, float16: :math:`2^{-10}`)."""
    if not dtype.is_floating_point:
        return True
    return lr * weight_decay >= torch.finfo(dtype).eps / 2


def common_radius(s: GroupSettings, dtype: torch.dtype | None = None) -> Radius | None:
    """The radius when a rule shared by all families already decides it (else ``None``)."""
    lam, eta = s.weight_decay, s.lr
    if not (math.isfinite(lam) and math.isfinite(eta)):
        return Radius(math.inf, note=f"non-finite lr={eta} or weight decay={lam}")
    if lam < 0:
        return Radius(math.inf, note="negative weight decay grows the weights: no constraint")
    if lam == 0:
        return Radius(math.inf, note="weight decay 0: no constraint")
    if validation.decay_flips_sign(eta, lam):
        return Radius(math.inf, note=f"λη = {lam * eta:.3g} > 1: 1 − λη < 0, Lemma 3.1 does not apply")
    if dtype is not None and eta > 0 and not decay_is_representable(eta, lam, dtype):
        name = str(dtype).removeprefix("torch.")
        return Radius(math.inf, note=f"λη = {lam * eta:.2g} is below {name}'s resolution: "
                                     f"the decay rounds away")
    return None


# ----------------------------------------------------------------------------- families
class Family:
    """One optimizer family: how to read its groups, its norm per tensor, and its radius."""

    name = ""
    #: the family keeps per-parameter state once a tensor has had a gradient (for "untrained")
    has_state = True
    #: the second moment ``exp_avg_sq`` is tracked by ConstraintMonitor for Lemma 4.3
    tracks_second_moment = False

    def matches(self, opt, group) -> bool:
        raise NotImplementedError

    def settings(self, opt, group, label: str) -> GroupSettings:
        return GroupSettings(label, self, _number(group["lr"]), _number(group["weight_decay"]),
                             maximize=bool(group.get("maximize", False)))

    def tensor_norm(self, s: GroupSettings, p) -> str:
        return s.norm

    def radius(self, s: GroupSettings, norm: str, shape, log_v_range=None,
               lr_constant: bool | None = None) -> Radius:
        """The tensor's radius; ``lr_constant``: whether the group's lr has been constant so far
        (``None``: not known, as in a one-off report, which then assumes it)."""
        raise NotImplementedError

    def kkt_radius(self, s: GroupSettings, norm: str, radius: Radius) -> float | None:
        """Radius of the ball of the KKT residual: the theorem's 1/λ (None: no ball)."""
        return 1.0 / s.weight_decay if s.weight_decay > 0 else None


def _number(value) -> float:
    """A group's lr or weight decay as a float (a 0-dim tensor lr, as with capturable, included)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().item()
    return float(value)


def _adam_settings(s: GroupSettings, group) -> GroupSettings:
    s.betas = tuple(float(b) for b in group["betas"])
    s.eps = float(group["eps"])
    s.bias_correction = bool(group.get("bias_correction", True))  # torch always corrects
    s.amsgrad = bool(group.get("amsgrad", False))
    return s


class DecoupledAdam(Family):
    r"""AdamW (ours, ``torch.optim.AdamW``, ``torch.optim.Adam(decoupled_weight_decay=True)``).

    Radius: the smaller of :math:`U/\lambda`, :math:`U` the largest update over all steps
    (:func:`adam_update_bound`: 1 for :math:`\beta_1=\beta_2`, the sharp :math:`M` for
    :math:`\beta_1^2<\beta_2`; valid under any schedule with :math:`\lambda\eta_t\le1`), and, for
    :math:`\beta_1<\beta_2`, a constant learning rate and a known second-moment range,
    Lemma 4.3's cap (times :math:`\sup_t\theta_t` with bias correction).
    """

    name = "adamw"
    tracks_second_moment = True

    def matches(self, opt, group):
        from .. import optim

        if isinstance(opt, optim.AdamW):
            return True
        return (isinstance(opt, torch.optim.Adam)  # torch's AdamW is an Adam with the flag set
                and bool(group.get("decoupled_weight_decay", isinstance(opt, torch.optim.AdamW))))

    def settings(self, opt, group, label):
        return _adam_settings(Family.settings(self, opt, group, label), group)

    def radius(self, s, norm, shape, log_v_range=None, lr_constant=None):
        beta1, beta2 = s.betas
        # beta1 = beta2: U = 1 exactly (M^2 = 1 in exact arithmetic; the formula rounds)
        bound = 1.0 if beta1 == beta2 else adam_update_bound(s.betas, s.bias_correction)
        notes = ["amsgrad: max of v, updates only smaller"] if s.amsgrad else []
        if not math.isfinite(bound):
            return Radius(math.inf, note="β1² ≥ β2: no bound (App. B.3)")
        if beta1 == beta2:
            best = Radius(bound / s.weight_decay, "β1 = β2: 1/λ")
        else:
            best = Radius(bound / s.weight_decay, "sharp M/λ")
            if beta1 > beta2:
                notes.append("β1 > β2: may settle outside 1/λ")
            cap = self._lemma_4_3(s, log_v_range, lr_constant, notes)
            if cap is not None and cap < best.value:
                best = Radius(cap, "Lemma 4.3")
        if s.bias_correction and beta1 != beta2:
            notes.append("bias-corrected form")
        return Radius(best.value, best.rule, "; ".join(notes))

    @staticmethod
    def _lemma_4_3(s, log_v_range, lr_constant, notes) -> float | None:
        """Lemma 4.3's cap where its hypotheses hold (else None, with the reason in ``notes``)."""
        beta1, beta2 = s.betas
        if beta1 > beta2:
            return None
        if log_v_range is None:
            notes.append("Lemma 4.3 needs the range of v (ConstraintMonitor)")
            return None
        if not math.isfinite(log_v_range):
            notes.append("second moment not finite")
            return None
        if lr_constant is False:
            notes.append("lr changed: Lemma 4.3 needs a constant lr")
            return None
        if not (s.lr > 0 and s.lr * s.weight_decay < 1 - beta1):
            return None
        cap = lemma_4_3_radius(s.betas, s.lr, s.weight_decay, log_v_range)
        if lr_constant is None and cap < adam_update_bound(s.betas, s.bias_correction) / s.weight_decay:
            notes.append("Lemma 4.3 at the current lr, assumed constant")
        return cap * _bias_correction_peak(s.betas) if s.bias_correction else cap


class CoupledAdam(Family):
    """Adam with ℓ2-coupled decay (``torch.optim.Adam``, ours ``AdamL2``/``Adam``): no radius."""

    name = "adam-l2"
    tracks_second_moment = True

    def matches(self, opt, group):
        from .. import optim

        return isinstance(opt, (optim.AdamL2, torch.optim.Adam))

    def settings(self, opt, group, label):
        return _adam_settings(Family.settings(self, opt, group, label), group)

    def radius(self, s, norm, shape, log_v_range=None, lr_constant=None):
        return Radius(math.inf, note="ℓ2-coupled decay: no norm constraint implied")

    def kkt_radius(self, s, norm, radius):
        return None


class Lion(Family):
    """Lion (ours): every update has ℓ∞ norm 1, so 1/λ for any betas (``prop-lion-nsd``)."""

    name = "lion"

    def matches(self, opt, group):
        from .. import optim

        return isinstance(opt, optim.Lion)

    def radius(self, s, norm, shape, log_v_range=None, lr_constant=None):
        return Radius(1.0 / s.weight_decay, "Lemma 3.1: 1/λ")


class SteepestDescent(Family):
    """Normalized steepest descent (ours): 1/λ in its norm (ℓp: all tensors together)."""

    name = "nsd"

    def matches(self, opt, group):
        from .. import optim

        return isinstance(opt, optim.NormalizedSteepestDescent)

    @property
    def has_state(self):  # momentum 0 keeps no state: only requires_grad tells
        return False

    def settings(self, opt, group, label):
        s = super().settings(opt, group, label)
        s.norm = opt.norm.name
        return s

    def tensor_norm(self, s, p):
        if s.norm == "spectral":
            return "spectral" if p.ndim == 2 else "linf"
        return s.norm

    def radius(self, s, norm, shape, log_v_range=None, lr_constant=None):
        note = "" if norm in ("linf", "spectral") else f"bounds the {norm} norm of all tensors"
        return Radius(1.0 / s.weight_decay, "Lemma 3.1: 1/λ", note)


class Muon(Family):
    """``torch.optim.Muon``: the spectral radius s·c_NS/λ of :func:`~implicit_bias.muon.muon_radius`."""

    name = "muon"

    def matches(self, opt, group):
        return isinstance(opt, torch.optim.Muon)

    def settings(self, opt, group, label):
        s = super().settings(opt, group, label)
        s.norm = "spectral"
        s.extra = dict(adjust_lr_fn=group["adjust_lr_fn"],
                       ns_coefficients=tuple(group["ns_coefficients"]),
                       ns_steps=int(group["ns_steps"]))
        return s

    def tensor_norm(self, s, p):
        return "spectral" if p.ndim == 2 else "linf"

    def radius(self, s, norm, shape, log_v_range=None, lr_constant=None):
        if norm != "spectral":
            return Radius(1.0 / s.weight_decay, "Lemma 3.1: 1/λ")
        value = _muon_radius(tuple(shape), s.weight_decay, s.extra["adjust_lr_fn"],
                             s.extra["ns_coefficients"], s.extra["ns_steps"])
        return Radius(value, "Muon: s·c_NS/λ", "bfloat16 Newton–Schulz: about 1% more")

    def kkt_radius(self, s, norm, radius):
        return radius.value if norm == "spectral" else 1.0 / s.weight_decay


_muon_radius = functools.lru_cache(maxsize=1024)(muon.muon_radius)

#: The registry, in order; the first family whose ``matches`` accepts a group reads it.
FAMILIES: tuple[Family, ...] = (DecoupledAdam(), CoupledAdam(), Lion(), SteepestDescent(), Muon())

SUPPORTED = ("torch.optim.AdamW, torch.optim.Adam, torch.optim.Muon and implicit_bias.optim's "
             "AdamW, AdamL2, Adam, Lion, NormalizedSteepestDescent")


def family_of(opt, group) -> Family:
    for family in FAMILIES:
        if family.matches(opt, group):
            return family
    raise TypeError(f"unsupported optimizer {type(opt).__name__}: supported are {SUPPORTED}")


# ----------------------------------------------------------------------------- optimizers
def optimizer_list(optimizer) -> list:
    """The optimizers in ``optimizer``: one, a list or tuple, or an object with ``optimizers``."""
    inner = getattr(optimizer, "optimizers", None)
    if inner is not None:
        return list(inner)
    if isinstance(optimizer, (list, tuple)):
        out = []
        for opt in optimizer:
            out.extend(optimizer_list(opt))
        return out
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"expected a torch.optim.Optimizer (or a list of them), "
                        f"got {type(optimizer).__name__}")
    return [optimizer]


def parameter_groups(optimizer) -> list[tuple[GroupSettings, list, dict]]:
    """``[(settings, params, state)]`` for every parameter group of every optimizer; labels are
    ``"AdamW group 0"``, or ``"optimizer 1 AdamW group 0"`` with several optimizers."""
    opts = optimizer_list(optimizer)
    out = []
    for k, opt in enumerate(opts):
        for i, group in enumerate(opt.param_groups):
            prefix = f"optimizer {k} " if len(opts) > 1 else ""
            label = f"{prefix}{type(opt).__name__} group {i}"
            out.append((family_of(opt, group).settings(opt, group, label), group["params"],
                        opt.state))
    return out
