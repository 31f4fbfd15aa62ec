r"""How large can Adam's updates be?  Lemmas 3.1, 4.2 and 4.3 as functions of *your* sequences.

Four modules, one name space: :mod:`!implicit_bias.bounds.lemma_3_1` (the ball envelope of any
bounded update), :mod:`!implicit_bias.bounds.lemma_4_2` (Lemma 4.2, Corollary 4.2′,
the :math:`\epsilon` corollaries), :mod:`!implicit_bias.bounds.update_sizes` (update sizes, bias
correction) and :mod:`!implicit_bias.bounds.lemma_4_3` (iterate bounds); import every name from
``implicit_bias.bounds``.

Notation (book chapter ``ch-adam-bounds``).  :math:`0\le\beta_1\le\beta_2<1`,
:math:`\kappa=(\beta_2-\beta_1)/(1-\beta_2)`.  Sequences :math:`g_t` (:math:`t\ge1`) and
:math:`v_t` (:math:`t\ge0`) with :math:`v_0\ge0`, :math:`v_t>0` and the recursion *inequality*

.. math::  \iota_t := v_t-\beta_2v_{t-1}\ \ge\ (1-\beta_2)g_t^2 ,

:math:`|m_0|\le\sqrt{v_0}`, :math:`m_t=\beta_1m_{t-1}+(1-\beta_1)g_t` and :math:`\Delta_t=m_t/\sqrt{v_t}`.
Adam's own second moment has :math:`\iota_t=(1-\beta_2)g_t^2`; with :math:`\epsilon>0` the folded
moment :math:`\tilde v_t=(\sqrt{v_t}+\epsilon)^2` qualifies too (Remark 4.2.C) and then
:math:`\Delta_t=m_t/(\sqrt{v_t}+\epsilon)` is exactly Adam's update.

**Lemma 4.2** (derived form, see the chapter):

* (a) :math:`\Delta_t^2\le 1+\kappa\rho_t
  = \big[\beta_1^tv_0+\tfrac{1-\beta_1}{1-\beta_2}\sum_{s\le t}\beta_1^{t-s}\iota_s\big]/v_t`
  (:func:`pointwise_bound`; the right-hand form has no cancellation);
* (b) :math:`|\sum_ta_t\Delta_t|\le\sqrt{A_T}\sqrt{\sum_t|a_t|(1+\kappa\rho_t)}`,
  :math:`A_T=\sum_t|a_t|` (:func:`averaged_bound`);
* (4) :func:`log_bound`, with the coefficients :math:`c_s` of :func:`log_coefficients`:

  .. math::

      \Big|\sum_ta_t\Delta_t\Big|\le\sqrt{A_T}\,\Big(A_T+\kappa\Big(\sum_t|a_t|\beta_1^{t-1}
      +(1-\beta_1)\sum_sc_s\ln v_s\Big)\Big)^{1/2};

* Corollary 4.2′ (i)–(iii): :func:`log_range_bound`, :func:`nonincreasing_weights_bound`
  (its excess term :func:`nonincreasing_weights_excess`, with the memory term
  :func:`memory_term`), :func:`constant_weights_bound`.

**Largest single update**: :func:`max_update_size`
:math:`M_T^2=\frac{(1-\beta_1)^2}{1-\beta_2}\sum_{j<T}(\beta_1^2/\beta_2)^j\uparrow
\frac{(1-\beta_1)^2\beta_2}{(1-\beta_2)(\beta_2-\beta_1^2)}`, attained by
:func:`extremal_gradients` (book: ``prop-max-adam-update``).

**Geometric gradients**: :func:`stationary_update_size`, the update :math:`D(r)` of gradients
:math:`g_t\propto r^t` (also the limit of the Appendix B.3 counter-example).

**Lemma 3.1**: any update with :math:`\|\Delta_t\|\le c` and :math:`\lambda\eta_t\le1` keeps
:math:`\|x_t\|\le c/\lambda+\prod_{s\le t}(1-\lambda\eta_s)(\|x_0\|-c/\lambda)_+`
(:func:`ball_envelope`).

**Lemma 4.3**: for AdamW with constant :math:`\eta`, :math:`q=1-\lambda\eta`,
:math:`|x_{t,i}-q^tx_{0,i}|\le\frac1\lambda\sqrt{(1-q^t)[1-q^t+\kappa\lambda\eta(S_t+\Pi_t\ln
\frac{V_t}{v^{\min}_t})]}` (:func:`iterate_bound`), and its large-:math:`t` form
:math:`\frac1\lambda\sqrt{1+K\ln(V/v^{\min})}` (:func:`asymptotic_iterate_bound`, :func:`growth_constant`).
"""

from .._compat import deprecated_names
from .lemma_3_1 import ball_envelope
from .lemma_4_2 import (RatioSequence, adam_ratio_sequence, averaged_bound, constant_weights_bound,
                        eps_averaged_bound, eps_log_range, folded_moment, kappa, log_bound,
                        log_coefficients, log_range_bound, memory_term, naive_bound,
                        nonincreasing_weights_bound, nonincreasing_weights_excess,
                        pointwise_bound, ratio_sequence, weighted_sum)
from .lemma_4_3 import (asymptotic_iterate_bound, growth_constant, iterate_bound,
                        iterate_bound_from_log_range)
from .update_sizes import (bias_corrected_update_size, bias_correction_factor,
                           bias_correction_peak, extremal_gradients, max_update_size,
                           replay_gradients, stationary_update_size)

__all__ = [
    "ball_envelope", "RatioSequence", "adam_ratio_sequence", "ratio_sequence", "kappa", "pointwise_bound",
    "averaged_bound", "log_coefficients", "log_bound", "log_range_bound", "memory_term",
    "folded_moment", "nonincreasing_weights_excess", "nonincreasing_weights_bound", "constant_weights_bound",
    "naive_bound", "eps_log_range", "eps_averaged_bound", "stationary_update_size",
    "max_update_size", "bias_correction_factor", "bias_corrected_update_size",
    "bias_correction_peak", "extremal_gradients",
    "growth_constant", "iterate_bound", "iterate_bound_from_log_range",
    "asymptotic_iterate_bound", "replay_gradients", "weighted_sum",
]

# Old names, kept for code written against earlier versions; they warn with a DeprecationWarning.
__getattr__ = deprecated_names(__name__, {
    "stationary_ratio": ("stationary_update_size", lambda: stationary_update_size),
    "gradient_stream": ("replay_gradients", lambda: replay_gradients),
})
