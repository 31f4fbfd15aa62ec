r"""The radius explorer (``ch-adam-bounds``): the 1/λ box, Lemma 4.3's cap and the sharp radius
M/λ for the (β₁, β₂, λ, η) a reader chooses, and where (β₁, β₂) lies."""

from __future__ import annotations

import math

import numpy as np

from .. import bounds, plotting, validation
from ._figure import (BALL_JS, BLACK, BLUE, GREY, LIBRARY, ORANGE, RED, InteractiveFigure,
                      check_ranges, figure_layout, fmt, legend_below, place_legend, plot,
                      readout_div, slider, square, to_png)

def radius_values(beta1: float, beta2: float, weight_decay: float, lr: float,
                  log_range: float) -> dict:
    r"""The radii the explorer draws, from the package: ``box`` :math:`1/\lambda`, ``cap``
    (Lemma 4.3's large-:math:`t` bound, NaN unless :math:`\beta_1\le\beta_2` and
    :math:`\lambda\eta<1-\beta_1`), ``sharp`` :math:`M/\lambda` (``inf`` for
    :math:`\beta_1^2\ge\beta_2`) and ``K`` (NaN where the cap is).

    >>> {k: round(v, 4) for k, v in radius_values(0.9, 0.999, 1.0, 1e-3, 10.0).items()}
    {'box': 1.0, 'cap': 3.3166, 'sharp': 7.2703, 'K': 1.0}
    """
    beta1, beta2 = validation.betas((beta1, beta2))
    weight_decay = validation.positive_finite("weight_decay", weight_decay)
    lr = validation.positive_finite("lr", lr)
    log_range = validation.nonneg_finite("log_range", log_range)
    validation.decay_factor(lr, weight_decay)
    cap = k = math.nan
    if beta1 <= beta2 and lr * weight_decay < 1.0 - beta1:
        k = bounds.growth_constant((beta1, beta2), lr, weight_decay)
        cap = float(bounds.asymptotic_iterate_bound((beta1, beta2), lr, weight_decay, log_range))
    sharp = bounds.max_update_size((beta1, beta2)) / weight_decay if beta2 > 0 else math.inf
    return {"box": 1.0 / weight_decay, "cap": cap, "sharp": sharp, "K": k}


def _radius_text(beta1, beta2, weight_decay, lr, log_range, r) -> str:
    lines = [f"β₁ = {beta1:.3f}, β₂ = {beta2:.4f}, λ = {weight_decay:.2f}, η = {lr:.2g}, "
             f"ln(V/v_min) = {log_range:.1f}:",
             f"1/λ box: {r['box']:.3g}.",
             "Lemma 4.3 cap: " + (f"{r['cap']:.3g} = {weight_decay * r['cap']:.3g}/λ (K = {r['K']:.3g})."
                                  if math.isfinite(r["cap"]) else "none (needs β₁ ≤ β₂ and λη < 1 − β₁)."),
             "Sharp radius M/λ: " + (f"{r['sharp']:.3g} = {weight_decay * r['sharp']:.3g}/λ."
                                     if math.isfinite(r["sharp"]) else "none (β₁² ≥ β₂: no radius exists).")]
    return "<br>".join(lines)


_RADIUS_JS = """
var b1 = beta1.value, b2 = beta2.value, wd = lam.value, lr = Math.pow(10, loglr.value), lr_ = logv.value;
var box = 1.0 / wd, cap = NaN, k = NaN;
if (b1 <= b2 && lr * wd < 1.0 - b1) { k = IB.growthConstant(b1, b2, lr, wd); cap = IB.asymptoticBound(b1, b2, lr, wd, lr_); }
var sharp = b2 > 0 ? IB.maxUpdateSize(b1, b2) / wd : Infinity;
function sq(r) { return isFinite(r) ? ballOutline('linf', r) : [[], []]; }
var s;
s = sq(box); box_src.data = {x: s[0], y: s[1]};
s = sq(cap); cap_src.data = {x: s[0], y: s[1]};
s = sq(sharp); sharp_src.data = {x: s[0], y: s[1]};
point_src.data = {x: [b1], y: [b2]};
function f(v) { return Number(v.toPrecision(3)).toString(); }
readout.text = 'β₁ = ' + b1.toFixed(3) + ', β₂ = ' + b2.toFixed(4) + ', λ = ' + wd.toFixed(2) + ', η = ' + f(lr) +
  ', ln(V/v_min) = ' + lr_.toFixed(1) + ':<br>1/λ box: ' + f(box) + '.<br>Lemma 4.3 cap: ' +
  (isFinite(cap) ? f(cap) + ' = ' + f(wd * cap) + '/λ (K = ' + f(k) + ').' : 'none (needs β₁ ≤ β₂ and λη < 1 − β₁).') +
  '<br>Sharp radius M/λ: ' + (isFinite(sharp) ? f(sharp) + ' = ' + f(wd * sharp) + '/λ.' : 'none (β₁² ≥ β₂: no radius exists).');
"""


def radius_explorer(beta1: float = 0.9, beta2: float = 0.999, weight_decay: float = 1.0,
                    lr: float = 1e-3, log_range: float = 10.0) -> InteractiveFigure:
    r"""The radius explorer (``ch-adam-bounds``): sliders for :math:`\beta_1, \beta_2, \lambda`,
    :math:`\log_{10}\eta` and :math:`\ln(V/v^{\min})`; left, the :math:`\ell_\infty` balls of
    radius :math:`1/\lambda`, Lemma 4.3's cap and :math:`M/\lambda` (:func:`radius_values`);
    right, the point in the :math:`(\beta_1,\beta_2)` plane with the lines
    :math:`\beta_2=\beta_1` and :math:`\beta_2=\beta_1^2` and the region with no radius.

    Args:
        beta1: :math:`\beta_1\in[0, 0.999]`.
        beta2: :math:`\beta_2\in[0.5, 0.9999]`.
        weight_decay: :math:`\lambda\in[0.1, 4]`.
        lr: :math:`\eta\in[10^{-4}, 10^{-1}]`.
        log_range: :math:`\ln(V/v^{\min})\in[0, 30]`.
    """
    from bokeh.models import ColumnDataSource, CustomJS, Range1d

    beta1, beta2, weight_decay, lr, log_range = check_ranges(
        beta1=(beta1, 0.0, 0.999), beta2=(beta2, 0.5, 0.9999), weight_decay=(weight_decay, 0.1, 4.0),
        lr=(lr, 1e-4, 0.1), log_range=(log_range, 0.0, 30.0))
    r = radius_values(beta1, beta2, weight_decay, lr, log_range)
    sliders = dict(
        beta1=slider("β₁", 0.0, 0.999, 0.001, beta1, "0.000"),
        beta2=slider("β₂", 0.5, 0.9999, 0.0001, beta2, "0.0000"),
        lam=slider("λ (weight decay)", 0.1, 4.0, 0.05, weight_decay, "0.00"),
        loglr=slider("log₁₀ η", -4.0, -1.0, 0.1, math.log10(lr), "0.0"),
        logv=slider("ln(V/v_min)", 0.0, 30.0, 0.5, log_range, "0.0"),
    )
    srcs = {}
    ball = plot("Radii in the (x₁, x₂) plane", "x₁", "x₂", match_aspect=True, name="radius-balls")
    for key, color, label, dash in (("box", GREY, "1/λ box", "solid"),
                                    ("cap", BLUE, "Lemma 4.3 cap", "dashed"),
                                    ("sharp", ORANGE, "sharp radius M/λ", "dotted")):
        xs, ys = square(r[key])
        srcs[key] = ColumnDataSource({"x": xs, "y": ys}, name=f"radius-{key}")
        ball.line("x", "y", source=srcs[key], color=color, line_width=2.5, line_dash=dash,
                  legend_label=label)
    place_legend(ball, "below")
    plane = plot("Where (β₁, β₂) lies", "β₁", "β₂", x_range=Range1d(0, 1), y_range=Range1d(0.5, 1.01))
    b = np.linspace(0.0, 1.0, 101)
    plane.varea(x=b, y1=0.5, y2=np.maximum(b * b, 0.5), color=RED, alpha=0.15,
                legend_label="β₁² ≥ β₂: no radius")
    plane.line(b, b, color=GREY, line_width=2, legend_label="β₂ = β₁")
    plane.line(b, b * b, color=RED, line_width=2, line_dash="dashed", legend_label="β₂ = β₁²")
    point = ColumnDataSource({"x": [beta1], "y": [beta2]}, name="radius-point")
    plane.scatter("x", "y", source=point, size=12, color=BLACK)
    place_legend(plane, "top_left")
    readout = readout_div(_radius_text(beta1, beta2, weight_decay, lr, log_range, r), "radius-readout")
    cb = CustomJS(args=dict(box_src=srcs["box"], cap_src=srcs["cap"], sharp_src=srcs["sharp"],
                            point_src=point, readout=readout, **sliders),
                  code=LIBRARY + BALL_JS + _RADIUS_JS)
    for s in sliders.values():
        s.js_on_change("value", cb)
    layout = figure_layout(sliders.values(), readout, ball, plane)
    alt = (f"Radius explorer at β₁ = {beta1}, β₂ = {beta2}, λ = {weight_decay}, η = {lr:g}, "
           f"ln(V/v_min) = {log_range:g}: the 1/λ box has half-width {r['box']:.3g}, Lemma 4.3's cap "
           f"{fmt(r['cap'])}, the sharp radius M/λ {fmt(r['sharp'])}; the point "
           f"({beta1}, {beta2}) lies {'above' if beta2 >= beta1 else 'below'} the line β₂ = β₁ and "
           f"{'above' if beta1 * beta1 < beta2 else 'on or below'} the curve β₂ = β₁², "
           "below which no radius exists.")
    png = _radius_png(beta1, beta2, r)
    defaults = {"β₁": beta1, "β₂": beta2, "λ (weight decay)": weight_decay,
                "log₁₀ η": math.log10(lr), "ln(V/v_min)": log_range}
    return InteractiveFigure("radius-explorer", layout, alt, defaults, png)


def _radius_png(beta1, beta2, r) -> bytes:
    fig, (ax, bx) = plotting.subplots(1, 2)
    for key, color, label, dash in (("box", GREY, "1/λ box", "-"), ("cap", BLUE, "Lemma 4.3 cap", "--"),
                                    ("sharp", ORANGE, "M/λ", ":")):
        xs, ys = square(r[key])
        if xs:
            ax.plot(xs, ys, dash, color=color, lw=2, label=label)
    ax.set_aspect("equal")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title="radii")
    legend_below(ax)
    b = np.linspace(0, 1, 101)
    bx.fill_between(b, 0.5, np.maximum(b * b, 0.5), color=RED, alpha=0.15, label=r"no radius")
    bx.plot(b, b, color=GREY, label=r"$\beta_2=\beta_1$")
    bx.plot(b, b * b, "--", color=RED, label=r"$\beta_2=\beta_1^2$")
    bx.plot([beta1], [beta2], "ko")
    bx.set(xlim=(0, 1), ylim=(0.5, 1.01), xlabel=r"$\beta_1$", ylabel=r"$\beta_2$", title="(β₁, β₂)")
    bx.legend(loc="upper left", fontsize=8)
    return to_png(fig)

