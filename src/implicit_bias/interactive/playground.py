r"""A live AdamW run (``ch-adamw``): Algorithm 1 on a 2-D quadratic whose minimum lies outside the
box, recomputed in the browser for the β₁, β₂, λ, η, ε and bias correction a reader chooses."""

from __future__ import annotations

import math

import numpy as np

from .. import plotting, validation
from ..adamw import run_adamw
from ._figure import (BLACK, GREY, LIBRARY, QUAD_CENTER, InteractiveFigure, check_ranges,
                      figure_layout, legend_below, place_legend, plot, quadratic_grad,
                      quadratic_js, readout_div, slider, square, to_png)

ADAMW = plotting.OPTIMIZER_COLORS["adamw"]

def _adamw_run(beta1, beta2, weight_decay, lr, eps, bias_correction, steps):
    run = run_adamw(quadratic_grad(), np.zeros(2), np.full(steps, lr), betas=(beta1, beta2),
                    eps=eps, weight_decay=weight_decay, bias_correction=bias_correction)
    return run.xs


_ADAMW_JS = """
var b1 = beta1.value, b2 = beta2.value, wd = lam.value, lr = Math.pow(10, loglr.value);
var eps = Math.pow(10, logeps.value), bc = bias.active;
var lrs = new Array(STEPS).fill(lr);
var xs = IB.runAdamW(IB.quadraticGrad(H, C), [0.0, 0.0], lrs, {beta1: b1, beta2: b2, eps: eps, weightDecay: wd, biasCorrection: bc});
traj_src.data = {x: xs.map(function (p) { return p[0]; }), y: xs.map(function (p) { return p[1]; })};
var ninf = xs.map(IB.normInf);
norm_src.data = {t: xs.map(function (p, i) { return i; }), n: ninf};
var r = 1.0 / wd;
box_src.data = {x: [-r, r, r, -r, -r], y: [-r, -r, r, r, -r]};
radius_src.data = {t: [0, STEPS], n: [r, r]};
var last = ninf[ninf.length - 1];
readout.text = 'After ' + STEPS + ' steps: ‖x_T‖∞ = ' + last.toFixed(3) + ', 1/λ = ' + r.toFixed(3) +
  ', λ‖x_T‖∞ = ' + (wd * last).toFixed(3) + (bc ? ' (bias-corrected)' : ' (no bias correction)') + '.';
"""


def adamw_playground(beta1: float = 0.9, beta2: float = 0.95, weight_decay: float = 1.0,
                     lr: float = 0.01, eps: float = 1e-8, bias_correction: bool = False,
                     steps: int = 400) -> InteractiveFigure:
    r"""A live AdamW run (``ch-adamw``) on the quadratic of :func:`quadratic_grad` from
    :math:`x_0=0`, whose minimum :data:`~implicit_bias.interactive.QUAD_CENTER` lies outside the box: sliders for
    :math:`\beta_1,\beta_2,\lambda,\log_{10}\eta,\log_{10}\epsilon` and a bias-correction box; the
    trajectory with the box :math:`\norm{x}_\infty\le1/\lambda` and :math:`\norm{x_t}_\infty`
    over :math:`t` (constant :math:`\eta`, ``steps`` steps, :func:`implicit_bias.adamw.run_adamw`).

    Args:
        beta1: :math:`\beta_1\in[0, 0.999]`.
        beta2: :math:`\beta_2\in[0.5, 0.9999]`.
        weight_decay: :math:`\lambda\in[0.2, 3]`.
        lr: :math:`\eta\in[10^{-3}, 10^{-1}]`.
        eps: :math:`\epsilon\in[10^{-12}, 1]`.
        bias_correction: PyTorch's moment correction.
        steps: number of steps, 10 to 2000.
    """
    from bokeh.models import Checkbox, ColumnDataSource, CustomJS

    beta1, beta2, weight_decay, lr, eps = check_ranges(
        beta1=(beta1, 0.0, 0.999), beta2=(beta2, 0.5, 0.9999), weight_decay=(weight_decay, 0.2, 3.0),
        lr=(lr, 1e-3, 0.1), eps=(eps, 1e-12, 1.0))
    steps = validation.int_in_range("steps", steps, 10, 2000)
    if not isinstance(bias_correction, bool):
        raise ValueError(f"bias_correction must be True or False, got {bias_correction!r}")
    xs = _adamw_run(beta1, beta2, weight_decay, lr, eps, bias_correction, steps)
    ninf = np.abs(xs).max(axis=1)
    sliders = dict(
        beta1=slider("β₁", 0.0, 0.999, 0.001, beta1, "0.000"),
        beta2=slider("β₂", 0.5, 0.9999, 0.0001, beta2, "0.0000"),
        lam=slider("λ (weight decay)", 0.2, 3.0, 0.05, weight_decay, "0.00"),
        loglr=slider("log₁₀ η", -3.0, -1.0, 0.1, math.log10(lr), "0.0"),
        logeps=slider("log₁₀ ε", -12.0, 0.0, 0.5, math.log10(eps), "0.0"),
    )
    bias = Checkbox(label="bias correction", active=bias_correction, name="adamw-bias")
    r = 1.0 / weight_decay
    traj_src = ColumnDataSource({"x": xs[:, 0], "y": xs[:, 1]}, name="adamw-trajectory")
    norm_src = ColumnDataSource({"t": np.arange(steps + 1), "n": ninf}, name="adamw-norm")
    bx, by = square(r)
    box_src = ColumnDataSource({"x": bx, "y": by}, name="adamw-box")
    radius_src = ColumnDataSource({"t": [0, steps], "n": [r, r]}, name="adamw-radius")
    traj = plot("Trajectory from x₀ = 0", "x₁", "x₂", match_aspect=True)
    traj.line("x", "y", source=box_src, color=GREY, line_width=2.5, legend_label="box ‖x‖∞ = 1/λ")
    traj.line("x", "y", source=traj_src, color=ADAMW, line_width=2, legend_label="AdamW xₜ")
    traj.scatter([QUAD_CENTER[0]], [QUAD_CENTER[1]], marker="x", size=12, line_width=3,
                 color=BLACK, legend_label="minimum of L")
    place_legend(traj, "below")
    norm = plot("‖xₜ‖∞ over the steps", "t", "‖xₜ‖∞")
    norm.line("t", "n", source=radius_src, color=GREY, line_width=2.5, line_dash="dashed",
              legend_label="1/λ")
    norm.line("t", "n", source=norm_src, color=ADAMW, line_width=2, legend_label="AdamW")
    place_legend(norm, "bottom_right")
    readout = readout_div(_adamw_text(steps, ninf[-1], weight_decay, bias_correction), "adamw-readout")
    cb = CustomJS(args=dict(traj_src=traj_src, norm_src=norm_src, box_src=box_src,
                            radius_src=radius_src, readout=readout, bias=bias, **sliders),
                  code=LIBRARY + quadratic_js() + f"var STEPS = {steps};\n" + _ADAMW_JS)
    for s in sliders.values():
        s.js_on_change("value", cb)
    bias.js_on_change("active", cb)
    layout = figure_layout([*sliders.values(), bias], readout, traj, norm)
    alt = (f"Live AdamW run at β₁ = {beta1}, β₂ = {beta2}, λ = {weight_decay}, η = {lr:g}, "
           f"ε = {eps:g}, {'with' if bias_correction else 'without'} bias correction, {steps} steps "
           f"from x₀ = 0 on a quadratic whose minimum ({QUAD_CENTER[0]:g}, {QUAD_CENTER[1]:g}) lies "
           f"outside the box of half-width 1/λ = {r:.3g}: the trajectory ends at "
           f"({xs[-1, 0]:.3f}, {xs[-1, 1]:.3f}), with ‖x_T‖∞ = {ninf[-1]:.3f}.")
    png = _adamw_png(xs, ninf, r)
    defaults = {"β₁": beta1, "β₂": beta2, "λ (weight decay)": weight_decay,
                "log₁₀ η": math.log10(lr), "log₁₀ ε": math.log10(eps),
                "bias correction": bias_correction}
    return InteractiveFigure("adamw-playground", layout, alt, defaults, png)


def _adamw_text(steps, last, weight_decay, bias_correction) -> str:
    return (f"After {steps} steps: ‖x_T‖∞ = {last:.3f}, 1/λ = {1.0 / weight_decay:.3f}, "
            f"λ‖x_T‖∞ = {weight_decay * last:.3f}"
            f"{' (bias-corrected)' if bias_correction else ' (no bias correction)'}.")


def _adamw_png(xs, ninf, r) -> bytes:
    fig, (ax, bx) = plotting.subplots(1, 2)
    bxs, bys = square(r)
    ax.plot(bxs, bys, color=GREY, lw=2, label=r"$\|x\|_\infty=1/\lambda$")
    ax.plot(xs[:, 0], xs[:, 1], color=ADAMW, label="AdamW")
    ax.plot(*QUAD_CENTER, "x", color=BLACK, ms=9, mew=2, label="minimum of $L$")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set(xlabel="$x_1$", ylabel="$x_2$")
    legend_below(ax)
    bx.axhline(r, color=GREY, ls="--", label=r"$1/\lambda$")
    bx.plot(ninf, color=ADAMW, label="AdamW")
    bx.set(xlabel="$t$", ylabel=r"$\|x_t\|_\infty$")
    bx.legend(loc="lower right", fontsize=8)
    return to_png(fig)

