r"""Which ball? (``ch-nsd-fw``): NSD-WD for the norm and λ a reader chooses, with the ball of radius
1/λ it ends on and the Frank–Wolfe iterates on top (Theorem 3.2)."""

from __future__ import annotations

import numpy as np

from .. import plotting, validation
from ..steepest import frank_wolfe_lrs, run_frank_wolfe, run_nsd_wd
from ._figure import (BALL_JS, BLACK, GREY, LIBRARY, NORMS, NORM_LABELS, QUAD_CENTER,
                      InteractiveFigure, ball, check_ranges, figure_layout,
                      legend_below, place_legend, plot, quadratic_grad, quadratic_js, readout_div,
                      slider, to_png)

NSD, FW = plotting.OPTIMIZER_COLORS["nsd"], "#1f77b4"


def _ball_runs(norm: str, weight_decay: float, steps: int):
    lrs = frank_wolfe_lrs(weight_decay, steps)
    grad = quadratic_grad()
    nsd = run_nsd_wd(grad, np.zeros(2), lrs, weight_decay=weight_decay, norm=norm).xs
    fw = run_frank_wolfe(grad, np.zeros(2), weight_decay * lrs, radius=1.0 / weight_decay,
                         norm=norm).xs
    return nsd, fw


_BALL_FIG_JS = """
var names = ['l1', 'l2', 'linf'], ps = [1, 2, Infinity];
var norm = names[choice.active], p = ps[choice.active], wd = lam.value;
var grad = IB.quadraticGrad(H, C), lrs = IB.frankWolfeLrs(wd, STEPS);
var nsd = IB.runNsdWd(grad, [0.0, 0.0], lrs, wd, p);
var fw = IB.runFrankWolfe(grad, [0.0, 0.0], lrs.map(function (l) { return wd * l; }), 1.0 / wd, p);
nsd_src.data = {x: nsd.map(function (q) { return q[0]; }), y: nsd.map(function (q) { return q[1]; })};
fw_src.data = {x: fw.map(function (q) { return q[0]; }), y: fw.map(function (q) { return q[1]; })};
var o = ballOutline(norm, 1.0 / wd);
ball_src.data = {x: o[0], y: o[1]};
var gap = 0.0;
for (var i = 0; i < nsd.length; i++) gap = Math.max(gap, Math.abs(nsd[i][0] - fw[i][0]), Math.abs(nsd[i][1] - fw[i][1]));
var last = nsd[nsd.length - 1], size = p === 1 ? Math.abs(last[0]) + Math.abs(last[1]) :
  (p === 2 ? Math.sqrt(last[0] * last[0] + last[1] * last[1]) : IB.normInf(last));
readout.text = 'NSD-WD with the ' + LABELS[choice.active] + ' norm, λ = ' + wd.toFixed(2) + ': x_T = (' +
  last[0].toFixed(3) + ', ' + last[1].toFixed(3) + '), λ‖x_T‖ = ' + (wd * size).toFixed(3) +
  '; largest gap to the Frank–Wolfe iterates: ' + gap.toExponential(1) + '.';
"""


def which_ball(norm: str = "linf", weight_decay: float = 1.0, steps: int = 200) -> InteractiveFigure:
    r"""Which ball? (``ch-nsd-fw``): NSD-WD (:func:`implicit_bias.steepest.run_nsd_wd`) with
    the learning rates :math:`\eta_t=2/(\lambda(t+1))` from :math:`x_0=0` on the quadratic of
    :func:`quadratic_grad`, for the norm chosen (ℓ₁, ℓ₂, ℓ∞) and :math:`\lambda`, drawn with the
    ball of radius :math:`1/\lambda` it ends on and the Frank–Wolfe iterates
    (:func:`implicit_bias.steepest.run_frank_wolfe`, :math:`\gamma_t=\lambda\eta_t`) on top.

    Args:
        norm: ``"l1"``, ``"l2"`` or ``"linf"``.
        weight_decay: :math:`\lambda\in[0.3, 3]`.
        steps: number of steps, 10 to 1000.
    """
    from bokeh.models import ColumnDataSource, CustomJS, RadioGroup

    if norm not in NORMS:
        raise ValueError(f"norm must be one of {sorted(NORMS)}, got norm={norm!r}")
    (weight_decay,) = check_ranges(weight_decay=(weight_decay, 0.3, 3.0))
    steps = validation.int_in_range("steps", steps, 10, 1000)
    nsd, fw = _ball_runs(norm, weight_decay, steps)
    names = list(NORMS)
    choice = RadioGroup(labels=[NORM_LABELS[n] for n in names], active=names.index(norm),
                        inline=True, name="ball-norm")
    lam = slider("λ (weight decay)", 0.3, 3.0, 0.05, weight_decay, "0.00")
    nsd_src = ColumnDataSource({"x": nsd[:, 0], "y": nsd[:, 1]}, name="ball-nsd")
    fw_src = ColumnDataSource({"x": fw[:, 0], "y": fw[:, 1]}, name="ball-fw")
    bxs, bys = ball(norm, 1.0 / weight_decay)
    ball_src = ColumnDataSource({"x": bxs, "y": bys}, name="ball-outline")
    p = plot("NSD-WD and Frank–Wolfe from x₀ = 0", "x₁", "x₂", match_aspect=True)
    p.line("x", "y", source=ball_src, color=GREY, line_width=2.5, legend_label="ball of radius 1/λ")
    p.line("x", "y", source=nsd_src, color=NSD, line_width=2, legend_label="NSD-WD")
    p.scatter("x", "y", source=fw_src, marker="circle", size=5, fill_color=None,
              line_color=FW, legend_label="Frank–Wolfe")
    p.scatter([QUAD_CENTER[0]], [QUAD_CENTER[1]], marker="x", size=12, line_width=3, color=BLACK,
              legend_label="minimum of L")
    place_legend(p, "below")
    gap = float(np.abs(nsd - fw).max())
    readout = readout_div(_ball_text(norm, weight_decay, nsd[-1], gap), "ball-readout")
    cb = CustomJS(args=dict(choice=choice, lam=lam, nsd_src=nsd_src, fw_src=fw_src,
                            ball_src=ball_src, readout=readout),
                  code=LIBRARY + BALL_JS + quadratic_js()
                  + f"var STEPS = {steps}, LABELS = {[NORM_LABELS[n] for n in names]};\n" + _BALL_FIG_JS)
    lam.js_on_change("value", cb)
    choice.js_on_change("active", cb)
    layout = figure_layout([choice, lam], readout, p)
    size = NORMS[norm]
    alt = (f"Which ball? NSD-WD with the {NORM_LABELS[norm]} norm and λ = {weight_decay}, "
           f"ηₜ = 2/(λ(t+1)), {steps} steps from x₀ = 0: the trajectory ends at "
           f"({nsd[-1, 0]:.3f}, {nsd[-1, 1]:.3f}) on the {NORM_LABELS[norm]} ball of radius "
           f"1/λ = {1 / weight_decay:.3g} (λ‖x_T‖ = "
           f"{weight_decay * float(np.linalg.norm(nsd[-1], ord=size)):.3f}), and the Frank–Wolfe "
           f"iterates lie on it (largest gap {gap:.1e}).")
    png = _ball_png(norm, weight_decay, nsd, fw)
    return InteractiveFigure("which-ball", layout, alt, {"λ (weight decay)": weight_decay,
                                                         "norm": NORM_LABELS[norm]}, png)


def _ball_text(norm, weight_decay, last, gap) -> str:
    size = float(np.linalg.norm(last, ord=NORMS[norm]))
    return (f"NSD-WD with the {NORM_LABELS[norm]} norm, λ = {weight_decay:.2f}: x_T = "
            f"({last[0]:.3f}, {last[1]:.3f}), λ‖x_T‖ = {weight_decay * size:.3f}; largest gap to "
            f"the Frank–Wolfe iterates: {gap:.1e}.")


def _ball_png(norm, weight_decay, nsd, fw) -> bytes:
    fig, ax = plotting.subplots(1, 1)
    bxs, bys = ball(norm, 1.0 / weight_decay)
    ax.plot(bxs, bys, color=GREY, lw=2, label="ball of radius $1/\\lambda$")
    ax.plot(nsd[:, 0], nsd[:, 1], color=NSD, label="NSD-WD")
    ax.plot(fw[:, 0], fw[:, 1], "o", mfc="none", color=FW, ms=4, label="Frank–Wolfe")
    ax.plot(*QUAD_CENTER, "x", color=BLACK, ms=9, mew=2, label="minimum of $L$")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=f"{NORM_LABELS[norm]} ball, λ = {weight_decay:g}")
    legend_below(ax)
    return to_png(fig)
