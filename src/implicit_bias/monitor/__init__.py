r"""Check your own training run: the implicit norm constraint of a PyTorch model and optimizer.

Three lines check a trained model (book chapter ``ch-check-your-run``)::

    from implicit_bias.monitor import constraint_report
    report = constraint_report(model, optimizer)     # after loss.backward(), or without gradients
    print(report.table())

and :class:`ConstraintMonitor` does the same inside a training loop, every few steps.  One row
per parameter tensor (tied weights appear once; DDP, FSDP and ``torch.compile`` names unwrapped):

* ``norm``: ``"linf"`` for Adam-type optimizers, Lion and sign descent; ``"spectral"`` for the
  matrices that ``torch.optim.Muon`` (or spectral NSD) trains; the ℓp norm of an ℓp NSD;
* ``value``: the tensor's norm (NaN, with a note, where it cannot be measured: NaN or inf
  entries, meta or empty tensors);
* ``radius``: the implicit radius of the tensor (``math.inf`` where nothing is implied, the
  reason in ``note``), and ``rule``: the result that gives it;
* ``ratio`` = value / radius; ``saturated``: share of coordinates (singular values for
  ``"spectral"``) with ``|x_i| >= (1 - boundary_tolerance) * radius``;
* ``kkt_residual``: :func:`implicit_bias.kkt.kkt_residual` of the tensor and ``p.grad`` for the
  ball of radius 1/λ in the row's norm (Muon: its own radius), ``None`` without a gradient
  (negated under ``maximize``).  Scale-free: 0 exactly at a KKT point, at most 2 on the ball; a
  converging run ends with residuals of the order of its step size.  A statement about the
  *full-batch* gradient; a minibatch gradient adds noise.
* ``trained``: False for a frozen tensor (``requires_grad=False``), one the optimizer never
  stepped (no state) or whose gradients were all 0 so far: flagged "untrained" in ``note`` and
  left out of the worst-tensor summaries.  Tensors that none of the given optimizers trains
  are skipped and named in ``report.skipped``.

Radii (:mod:`implicit_bias.monitor.rules`, book ``prop-report-radius``), all for decoupled decay
λ > 0 with λη ≤ 1 at every step; a radius bounds :math:`\limsup_t\|x_t\|`:

* AdamW (ours; ``torch.optim.AdamW``; ``torch.optim.Adam(decoupled_weight_decay=True)``): U/λ,
  with U the largest update over all steps: 1 for β1 = β2 (with or without bias correction),
  the sharp :math:`M=\sqrt{(1-\beta_1)^2\beta_2/((1-\beta_2)(\beta_2-\beta_1^2))}` for
  β1² < β2 (including β1 > β2; 1.165 at (0.9, 0.95), 7.27 at (0.9, 0.999)), or its
  bias-corrected form :math:`\sup_t\theta_tM_t` (``bounds.bias_corrected_update_size``).  It
  needs no second-moment history and holds under any learning-rate schedule.  For β1 < β2 the
  report also tries Lemma 4.3's cap (:func:`lemma_4_3_radius`) with the tensor's second-moment
  range, and keeps the smaller of the two: only for a constant learning rate (the report
  assumes the current one was constant; the monitor knows, and stops using the lemma for a
  group once its lr changes), and, with bias correction, times :math:`\sup_t\theta_t`.
  For β1² ≥ β2 no radius (Appendix B.3).  ε ≥ 0 and ``amsgrad`` only shrink updates.
* Adam with ℓ2-coupled decay (``torch.optim.Adam(weight_decay=λ)``, ours ``AdamL2``/``Adam``):
  no radius, and a warning; Adam with weight decay 0 is not warned about as ℓ2-coupled.
* Lion and ℓ∞ :class:`~implicit_bias.optim.NormalizedSteepestDescent`: 1/λ for every β
  (``prop-lion-nsd``).  ℓp NSD: 1/λ bounds the ℓp norm of *all* its parameters together.
* ``torch.optim.Muon``: the spectral radius s·c_NS/λ of :func:`implicit_bias.muon.muon_radius`
  for the tensor's shape and the group's ``adjust_lr_fn`` (``prop-muon-radius``).  Pass both
  optimizers of a Muon setup: ``constraint_report(model, [muon, adamw])``.
* Every family: no radius for λ ≤ 0, for λη > 1, or when λη is below half the resolution of
  the tensor's dtype (bfloat16: 2⁻⁸), where ``x·(1 − λη)`` rounds back to ``x``.

Warnings (:class:`ConstraintWarning`) name the group and the hypothesis each time a group's
settings leave the theorem: β1 > β2, ε not negligible against √v (measured on a sample of the
optimizer state), λη > 1 (the monitor checks every step), weight decay 0 or negative,
ℓ2-coupled decay, a decay below the dtype's resolution, a rising learning rate, unmeasurable
tensors.  Nothing raises inside a training loop; wrong arguments (an object that is not a
model or optimizer, a model none of whose tensors the optimizer trains, a tolerance out of
range) raise one ``TypeError`` or ``ValueError``.

Speed (``bench/bench_monitor.py``): every number is computed in the tensors' own dtype, with
per-tensor scalars copied to the host once per report; no float64 copy of a tensor is made.
"""

from .formatting import HISTORY_COLUMNS, REPORT_COLUMNS, format_report
from .hypotheses import ConstraintWarning
from .report import ConstraintReport, constraint_report
from .rules import GroupSettings, Radius, lemma_4_3_radius
from .tensors import linf_norms, named_tensors, spectral_norm
from .tracking import ConstraintMonitor, SecondMomentRange

__all__ = ["ConstraintWarning", "ConstraintReport", "ConstraintMonitor", "SecondMomentRange",
           "GroupSettings", "Radius", "constraint_report", "format_report", "lemma_4_3_radius",
           "linf_norms", "spectral_norm", "named_tensors", "REPORT_COLUMNS", "HISTORY_COLUMNS"]
