r"""Interactive figures for the static site: Bokeh layouts whose sliders recompute in the browser.

Each builder returns an :class:`InteractiveFigure`, which a chapter cell displays as its last
expression. Its output carries three representations:

* ``text/html`` (the site): the Bokeh figure (``bokeh.embed.components``), whose callbacks run
  the maths of ``ibmath.js`` (this package's one file of browser-side maths), followed by a text
  alternative; the BokehJS library itself is served once from ``_static`` by
  ``book/_ext/site_assets.py`` on the pages that embed a figure;
* ``image/png`` (the PDF and the downloadable notebook): a matplotlib rendering at the default
  setting;
* ``text/plain``: the text alternative.

The figure's first paint is computed here with the package (:func:`implicit_bias.adamw.run_adamw`,
:mod:`implicit_bias.bounds`, :mod:`implicit_bias.steepest`); every move of a control recomputes it
with ``ibmath.js``, which ``tests/test_interactive.py`` matches to the package to 1e-12.

Builders: :func:`radius_explorer` (``ch-adam-bounds``), :func:`adamw_playground` (``ch-adamw``),
:func:`which_ball` (``ch-nsd-fw``).
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

import numpy as np

from .. import bounds, validation
from ..adamw import run_adamw
from ..steepest import frank_wolfe_lrs, run_frank_wolfe, run_nsd_wd

__all__ = ["InteractiveFigure", "LIBRARY", "QUAD_HESSIAN", "QUAD_CENTER", "quadratic_grad",
           "radius_explorer", "radius_values", "adamw_playground", "which_ball"]

#: The browser-side maths (``ibmath.js``), inlined into every figure's callback.
LIBRARY = (Path(__file__).with_name("ibmath.js")).read_text(encoding="utf-8")

#: The 2-D quadratic :math:`L(x)=\frac12(x-c)^\top H(x-c)` of the AdamW and NSD-WD figures: its
#: unconstrained minimum :math:`c` lies outside every ball of radius :math:`1/\lambda\le 1`.
QUAD_HESSIAN = ((1.0, 0.5), (0.5, 1.0))
#: The minimum :math:`c` of that quadratic.
QUAD_CENTER = (2.0, -1.5)

_NORMS = {"l1": 1, "l2": 2, "linf": math.inf}
_NORM_LABELS = {"l1": "ℓ₁", "l2": "ℓ₂", "linf": "ℓ∞"}
_BLUE, _ORANGE, _GREEN, _GREY, _RED = "#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f", "#d62728"


def quadratic_grad(hessian=QUAD_HESSIAN, center=QUAD_CENTER):
    r""":math:`x\mapsto H(x-c)` for a 2-D point, written entry by entry exactly as
    ``IB.quadraticGrad`` of ``ibmath.js`` (so both round alike).

    >>> quadratic_grad()(np.zeros(2))
    array([-1.25,  0.5 ])
    """
    h = validation.finite_array("hessian", hessian, ndim=2)
    c = validation.vector("center", center, 2)
    if h.shape != (2, 2):
        raise ValueError(f"hessian must have shape (2, 2), got {h.shape}")

    def grad(x):
        d0, d1 = x[0] - c[0], x[1] - c[1]
        return np.array([h[0, 0] * d0 + h[0, 1] * d1, h[1, 0] * d0 + h[1, 1] * d1])
    return grad


class InteractiveFigure:
    """A Bokeh layout with its text alternative and static rendering (see the module docstring).

    Attributes:
        name: the figure's name (``data-figure`` of its HTML root).
        layout: the Bokeh layout.
        alt: the text alternative shown under the figure.
        defaults: the control values of the first paint (``data-defaults``, read by the site test).
    """

    def __init__(self, name: str, layout, alt: str, defaults: dict, static_png: bytes):
        self.name, self.layout, self.alt, self.defaults = name, layout, alt, defaults
        self._png = static_png

    def to_html(self) -> str:
        """The site's output: the figure's div and script, then the text alternative."""
        import json

        import bokeh
        from bokeh.embed import components

        script, div = components(self.layout)
        return (f'<div class="ib-interactive" data-figure="{self.name}" '
                f'data-bokeh-version="{bokeh.__version__}" '
                f"data-defaults='{html.escape(json.dumps(self.defaults), quote=True)}'>\n"
                f'{div}\n{script}\n<p class="ib-alt">{html.escape(self.alt)}</p>\n</div>')

    def png(self) -> bytes:
        """The static rendering at the default setting (PNG bytes)."""
        return self._png

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = {"text/html": self.to_html(),
                "image/png": base64.b64encode(self._png).decode("ascii"),
                "text/plain": self.alt}
        return data, {"implicit_bias": {"interactive": self.name}}

    def __repr__(self) -> str:
        return f"InteractiveFigure({self.name!r})"


# ----------------------------------------------------------------------------- shared pieces
def _slider(title, start, end, step, value, fmt):
    from bokeh.models import Slider

    return Slider(title=title, start=start, end=end, step=step, value=value, format=fmt,
                  sizing_mode="stretch_width")


def _plot(title, x_label, y_label, **kw):
    from bokeh.plotting import figure

    p = figure(title=title, x_axis_label=x_label, y_axis_label=y_label, height=300,
               sizing_mode="stretch_width", toolbar_location=None, tools="", **kw)
    p.title.text_font_size = "12pt"
    return p


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _square(r: float) -> tuple[list, list]:
    """Outline of the l-infinity ball of radius r (empty for r not finite)."""
    if not math.isfinite(r):
        return [], []
    return [-r, r, r, -r, -r], [-r, -r, r, r, -r]


def _ball(norm: str, r: float, n: int = 72) -> tuple[list, list]:
    """Outline of the ball of radius r of ``norm`` (l1: diamond, l2: circle, linf: square);
    ``IB``'s callbacks draw the same points."""
    if norm == "linf":
        return _square(r)
    if norm == "l1":
        return [r, 0.0, -r, 0.0, r], [0.0, r, 0.0, -r, 0.0]
    angles = [2.0 * math.pi * k / n for k in range(n + 1)]
    return [r * math.cos(a) for a in angles], [r * math.sin(a) for a in angles]


_BALL_JS = """
function ballOutline(norm, r) {
  if (norm === 'linf') return [[-r, r, r, -r, -r], [-r, -r, r, r, -r]];
  if (norm === 'l1') return [[r, 0.0, -r, 0.0, r], [0.0, r, 0.0, -r, 0.0]];
  var xs = [], ys = [];
  for (var k = 0; k <= 72; k++) { var a = 2.0 * Math.PI * k / 72; xs.push(r * Math.cos(a)); ys.push(r * Math.sin(a)); }
  return [xs, ys];
}
"""


def _check_betas(beta1, beta2):
    beta1 = validation.unit_interval("beta1", beta1)
    beta2 = validation.unit_interval("beta2", beta2)
    return beta1, beta2


def _fmt(value: float, digits: int = 3) -> str:
    return "none" if not math.isfinite(value) else f"{value:.{digits}g}"


# ----------------------------------------------------------------------------- 1. radius explorer
def radius_values(beta1: float, beta2: float, weight_decay: float, lr: float,
                  log_range: float) -> dict:
    r"""The radii the explorer draws, from the package: ``box`` :math:`1/\lambda`, ``cap``
    (Lemma 4.3's large-:math:`t` bound, NaN unless :math:`\beta_1\le\beta_2` and
    :math:`\lambda\eta<1-\beta_1`), ``sharp`` :math:`M/\lambda` (``inf`` for
    :math:`\beta_1^2\ge\beta_2`) and ``K`` (NaN where the cap is).

    >>> {k: round(v, 4) for k, v in radius_values(0.9, 0.999, 1.0, 1e-3, 10.0).items()}
    {'box': 1.0, 'cap': 3.3166, 'sharp': 7.2703, 'K': 1.0}
    """
    beta1, beta2 = _check_betas(beta1, beta2)
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
function sq(r) { return isFinite(r) ? [[-r, r, r, -r, -r], [-r, -r, r, r, -r]] : [[], []]; }
var s;
s = sq(box); box_src.data = {x: s[0], y: s[1]};
s = sq(cap); cap_src.data = {x: s[0], y: s[1]};
s = sq(sharp); sharp_src.data = {x: s[0], y: s[1]};
point_src.data = {x: [b1], y: [b2]};
var big = Math.max(box, isFinite(cap) ? cap : 0, isFinite(sharp) ? sharp : 0) * 1.15;
xr.start = -big; xr.end = big; yr.start = -big; yr.end = big;
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
    from bokeh.layouts import column, row
    from bokeh.models import ColumnDataSource, CustomJS, Div, Range1d

    for name, value, lo, hi in (("beta1", beta1, 0.0, 0.999), ("beta2", beta2, 0.5, 0.9999),
                                ("weight_decay", weight_decay, 0.1, 4.0), ("lr", lr, 1e-4, 0.1),
                                ("log_range", log_range, 0.0, 30.0)):
        value = validation.finite(name, value)
        if not lo <= value <= hi:
            raise ValueError(f"{name} must lie in [{lo}, {hi}], got {name}={value!r}")
    r = radius_values(beta1, beta2, weight_decay, lr, log_range)
    sliders = dict(
        beta1=_slider("β₁", 0.0, 0.999, 0.001, beta1, "0.000"),
        beta2=_slider("β₂", 0.5, 0.9999, 0.0001, beta2, "0.0000"),
        lam=_slider("λ (weight decay)", 0.1, 4.0, 0.05, weight_decay, "0.00"),
        loglr=_slider("log₁₀ η", -4.0, -1.0, 0.1, math.log10(lr), "0.0"),
        logv=_slider("ln(V/v_min)", 0.0, 30.0, 0.5, log_range, "0.0"),
    )
    big = max(v for v in (r["box"], r["cap"], r["sharp"]) if math.isfinite(v)) * 1.15
    xr, yr = Range1d(-big, big), Range1d(-big, big)
    srcs = {}
    ball = _plot("Radii in the (x₁, x₂) plane", "x₁", "x₂", x_range=xr, y_range=yr,
                 match_aspect=True, name="radius-balls")
    for key, color, label, dash in (("box", _GREY, "1/λ box", "solid"),
                                    ("cap", _BLUE, "Lemma 4.3 cap", "dashed"),
                                    ("sharp", _ORANGE, "sharp radius M/λ", "dotted")):
        xs, ys = _square(r[key])
        srcs[key] = ColumnDataSource({"x": xs, "y": ys}, name=f"radius-{key}")
        ball.line("x", "y", source=srcs[key], color=color, line_width=2.5, line_dash=dash,
                  legend_label=label)
    ball.legend.location = "bottom_left"
    ball.legend.background_fill_alpha = 0.7
    plane = _plot("Where (β₁, β₂) lies", "β₁", "β₂", x_range=Range1d(0, 1), y_range=Range1d(0.5, 1))
    b = np.linspace(0.0, 1.0, 101)
    plane.varea(x=b, y1=0.5, y2=np.maximum(b * b, 0.5), color=_RED, alpha=0.15,
                legend_label="β₁² ≥ β₂: no radius")
    plane.line(b, b, color=_GREY, line_width=2, legend_label="β₂ = β₁")
    plane.line(b, b * b, color=_RED, line_width=2, line_dash="dashed", legend_label="β₂ = β₁²")
    point = ColumnDataSource({"x": [beta1], "y": [beta2]}, name="radius-point")
    plane.scatter("x", "y", source=point, size=12, color="black")
    plane.legend.location = "top_left"
    plane.legend.background_fill_alpha = 0.7
    readout = Div(text=_radius_text(beta1, beta2, weight_decay, lr, log_range, r),
                  sizing_mode="stretch_width", name="radius-readout")
    cb = CustomJS(args=dict(box_src=srcs["box"], cap_src=srcs["cap"], sharp_src=srcs["sharp"],
                            point_src=point, xr=xr, yr=yr, readout=readout, **sliders),
                  code=LIBRARY + _RADIUS_JS)
    for s in sliders.values():
        s.js_on_change("value", cb)
    layout = column(*sliders.values(), readout, row(ball, plane, sizing_mode="stretch_width"),
                    sizing_mode="stretch_width")
    alt = (f"Radius explorer at β₁ = {beta1}, β₂ = {beta2}, λ = {weight_decay}, η = {lr:g}, "
           f"ln(V/v_min) = {log_range:g}: the 1/λ box has half-width {r['box']:.3g}, Lemma 4.3's cap "
           f"{_fmt(r['cap'])}, the sharp radius M/λ {_fmt(r['sharp'])}; the point "
           f"({beta1}, {beta2}) lies {'above' if beta2 >= beta1 else 'below'} the line β₂ = β₁ and "
           f"{'above' if beta1 * beta1 < beta2 else 'on or below'} the curve β₂ = β₁², "
           "below which no radius exists.")
    png = _radius_png(beta1, beta2, r)
    defaults = {"β₁": beta1, "β₂": beta2, "λ (weight decay)": weight_decay,
                "log₁₀ η": math.log10(lr), "ln(V/v_min)": log_range}
    return InteractiveFigure("radius-explorer", layout, alt, defaults, png)


def _radius_png(beta1, beta2, r) -> bytes:
    from .. import plotting

    fig, (ax, bx) = plotting.subplots(1, 2)
    for key, color, label, dash in (("box", _GREY, "1/λ box", "-"), ("cap", _BLUE, "Lemma 4.3 cap", "--"),
                                    ("sharp", _ORANGE, "M/λ", ":")):
        xs, ys = _square(r[key])
        if xs:
            ax.plot(xs, ys, dash, color=color, lw=2, label=label)
    ax.set_aspect("equal")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title="radii")
    ax.legend(loc="lower left", fontsize=8)
    b = np.linspace(0, 1, 101)
    bx.fill_between(b, 0.5, np.maximum(b * b, 0.5), color=_RED, alpha=0.15, label=r"no radius")
    bx.plot(b, b, color=_GREY, label=r"$\beta_2=\beta_1$")
    bx.plot(b, b * b, "--", color=_RED, label=r"$\beta_2=\beta_1^2$")
    bx.plot([beta1], [beta2], "ko")
    bx.set(xlim=(0, 1), ylim=(0.5, 1), xlabel=r"$\beta_1$", ylabel=r"$\beta_2$", title="(β₁, β₂)")
    bx.legend(loc="upper left", fontsize=8)
    return _png(fig)


# ----------------------------------------------------------------------------- 2. AdamW playground
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
    :math:`x_0=0`, whose minimum :data:`QUAD_CENTER` lies outside the box: sliders for
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
    from bokeh.layouts import column, row
    from bokeh.models import Checkbox, ColumnDataSource, CustomJS, Div

    for name, value, lo, hi in (("beta1", beta1, 0.0, 0.999), ("beta2", beta2, 0.5, 0.9999),
                                ("weight_decay", weight_decay, 0.2, 3.0), ("lr", lr, 1e-3, 0.1),
                                ("eps", eps, 1e-12, 1.0)):
        value = validation.finite(name, value)
        if not lo <= value <= hi:
            raise ValueError(f"{name} must lie in [{lo}, {hi}], got {name}={value!r}")
    steps = validation.positive_int("steps", steps)
    if not 10 <= steps <= 2000:
        raise ValueError(f"steps must lie in [10, 2000], got steps={steps!r}")
    if not isinstance(bias_correction, bool):
        raise ValueError(f"bias_correction must be True or False, got {bias_correction!r}")
    xs = _adamw_run(beta1, beta2, weight_decay, lr, eps, bias_correction, steps)
    ninf = np.abs(xs).max(axis=1)
    sliders = dict(
        beta1=_slider("β₁", 0.0, 0.999, 0.001, beta1, "0.000"),
        beta2=_slider("β₂", 0.5, 0.9999, 0.0001, beta2, "0.0000"),
        lam=_slider("λ (weight decay)", 0.2, 3.0, 0.05, weight_decay, "0.00"),
        loglr=_slider("log₁₀ η", -3.0, -1.0, 0.1, math.log10(lr), "0.0"),
        logeps=_slider("log₁₀ ε", -12.0, 0.0, 0.5, math.log10(eps), "0.0"),
    )
    bias = Checkbox(label="bias correction", active=bias_correction, name="adamw-bias")
    r = 1.0 / weight_decay
    traj_src = ColumnDataSource({"x": xs[:, 0], "y": xs[:, 1]}, name="adamw-trajectory")
    norm_src = ColumnDataSource({"t": np.arange(steps + 1), "n": ninf}, name="adamw-norm")
    bx, by = _square(r)
    box_src = ColumnDataSource({"x": bx, "y": by}, name="adamw-box")
    radius_src = ColumnDataSource({"t": [0, steps], "n": [r, r]}, name="adamw-radius")
    traj = _plot("Trajectory from x₀ = 0", "x₁", "x₂", match_aspect=True)
    traj.line("x", "y", source=box_src, color=_GREY, line_width=2.5, legend_label="box ‖x‖∞ = 1/λ")
    traj.line("x", "y", source=traj_src, color=_BLUE, line_width=2, legend_label="AdamW x_t")
    traj.scatter([QUAD_CENTER[0]], [QUAD_CENTER[1]], marker="x", size=12, line_width=3,
                 color=_RED, legend_label="minimum of L")
    traj.legend.location = "bottom_left"
    traj.legend.background_fill_alpha = 0.7
    norm = _plot("‖x_t‖∞ over the steps", "t", "‖x_t‖∞")
    norm.line("t", "n", source=radius_src, color=_GREY, line_width=2.5, line_dash="dashed",
              legend_label="1/λ")
    norm.line("t", "n", source=norm_src, color=_BLUE, line_width=2, legend_label="AdamW")
    norm.legend.location = "bottom_right"
    norm.legend.background_fill_alpha = 0.7
    readout = Div(text=_adamw_text(steps, ninf[-1], weight_decay, bias_correction),
                  sizing_mode="stretch_width", name="adamw-readout")
    cb = CustomJS(args=dict(traj_src=traj_src, norm_src=norm_src, box_src=box_src,
                            radius_src=radius_src, readout=readout, bias=bias, **sliders),
                  code=LIBRARY + f"var STEPS = {steps}, H = {list(map(list, QUAD_HESSIAN))}, "
                                 f"C = {list(QUAD_CENTER)};\n" + _ADAMW_JS)
    for s in sliders.values():
        s.js_on_change("value", cb)
    bias.js_on_change("active", cb)
    layout = column(*sliders.values(), bias, readout, row(traj, norm, sizing_mode="stretch_width"),
                    sizing_mode="stretch_width")
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
    from .. import plotting

    fig, (ax, bx) = plotting.subplots(1, 2)
    bxs, bys = _square(r)
    ax.plot(bxs, bys, color=_GREY, lw=2, label=r"$\|x\|_\infty=1/\lambda$")
    ax.plot(xs[:, 0], xs[:, 1], color=_BLUE, label="AdamW")
    ax.plot(*QUAD_CENTER, "x", color=_RED, ms=9, mew=2, label="minimum of $L$")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set(xlabel="$x_1$", ylabel="$x_2$")
    ax.legend(loc="lower left", fontsize=8)
    bx.axhline(r, color=_GREY, ls="--", label=r"$1/\lambda$")
    bx.plot(ninf, color=_BLUE, label="AdamW")
    bx.set(xlabel="$t$", ylabel=r"$\|x_t\|_\infty$")
    bx.legend(loc="lower right", fontsize=8)
    return _png(fig)


# ----------------------------------------------------------------------------- 3. which ball?
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
    from bokeh.layouts import column
    from bokeh.models import ColumnDataSource, CustomJS, Div, RadioGroup

    if norm not in _NORMS:
        raise ValueError(f"norm must be one of {sorted(_NORMS)}, got norm={norm!r}")
    weight_decay = validation.finite("weight_decay", weight_decay)
    if not 0.3 <= weight_decay <= 3.0:
        raise ValueError(f"weight_decay must lie in [0.3, 3.0], got weight_decay={weight_decay!r}")
    steps = validation.positive_int("steps", steps)
    if not 10 <= steps <= 1000:
        raise ValueError(f"steps must lie in [10, 1000], got steps={steps!r}")
    nsd, fw = _ball_runs(norm, weight_decay, steps)
    names = list(_NORMS)
    choice = RadioGroup(labels=[_NORM_LABELS[n] for n in names], active=names.index(norm),
                        inline=True, name="ball-norm")
    lam = _slider("λ (weight decay)", 0.3, 3.0, 0.05, weight_decay, "0.00")
    nsd_src = ColumnDataSource({"x": nsd[:, 0], "y": nsd[:, 1]}, name="ball-nsd")
    fw_src = ColumnDataSource({"x": fw[:, 0], "y": fw[:, 1]}, name="ball-fw")
    bxs, bys = _ball(norm, 1.0 / weight_decay)
    ball_src = ColumnDataSource({"x": bxs, "y": bys}, name="ball-outline")
    p = _plot("NSD-WD and Frank–Wolfe from x₀ = 0", "x₁", "x₂", match_aspect=True)
    p.line("x", "y", source=ball_src, color=_GREY, line_width=2.5, legend_label="ball of radius 1/λ")
    p.line("x", "y", source=nsd_src, color=_BLUE, line_width=2, legend_label="NSD-WD")
    p.scatter("x", "y", source=fw_src, marker="circle", size=5, fill_color=None,
              line_color=_ORANGE, legend_label="Frank–Wolfe")
    p.scatter([QUAD_CENTER[0]], [QUAD_CENTER[1]], marker="x", size=12, line_width=3, color=_RED,
              legend_label="minimum of L")
    p.legend.location = "bottom_left"
    p.legend.background_fill_alpha = 0.7
    gap = float(np.abs(nsd - fw).max())
    readout = Div(text=_ball_text(norm, weight_decay, nsd[-1], gap), sizing_mode="stretch_width",
                  name="ball-readout")
    cb = CustomJS(args=dict(choice=choice, lam=lam, nsd_src=nsd_src, fw_src=fw_src,
                            ball_src=ball_src, readout=readout),
                  code=LIBRARY + _BALL_JS + f"var STEPS = {steps}, H = {list(map(list, QUAD_HESSIAN))}, "
                  f"C = {list(QUAD_CENTER)}, LABELS = {[_NORM_LABELS[n] for n in names]};\n" + _BALL_FIG_JS)
    lam.js_on_change("value", cb)
    choice.js_on_change("active", cb)
    layout = column(choice, lam, readout, p, sizing_mode="stretch_width")
    size = _NORMS[norm]
    alt = (f"Which ball? NSD-WD with the {_NORM_LABELS[norm]} norm and λ = {weight_decay}, "
           f"η_t = 2/(λ(t+1)), {steps} steps from x₀ = 0: the trajectory ends at "
           f"({nsd[-1, 0]:.3f}, {nsd[-1, 1]:.3f}) on the {_NORM_LABELS[norm]} ball of radius "
           f"1/λ = {1 / weight_decay:.3g} (λ‖x_T‖ = "
           f"{weight_decay * float(np.linalg.norm(nsd[-1], ord=size)):.3f}), and the Frank–Wolfe "
           f"iterates lie on it (largest gap {gap:.1e}).")
    png = _ball_png(norm, weight_decay, nsd, fw)
    return InteractiveFigure("which-ball", layout, alt, {"λ (weight decay)": weight_decay,
                                                         "norm": _NORM_LABELS[norm]}, png)


def _ball_text(norm, weight_decay, last, gap) -> str:
    size = float(np.linalg.norm(last, ord=_NORMS[norm]))
    return (f"NSD-WD with the {_NORM_LABELS[norm]} norm, λ = {weight_decay:.2f}: x_T = "
            f"({last[0]:.3f}, {last[1]:.3f}), λ‖x_T‖ = {weight_decay * size:.3f}; largest gap to "
            f"the Frank–Wolfe iterates: {gap:.1e}.")


def _ball_png(norm, weight_decay, nsd, fw) -> bytes:
    from .. import plotting

    fig, ax = plotting.subplots(1, 1)
    bxs, bys = _ball(norm, 1.0 / weight_decay)
    ax.plot(bxs, bys, color=_GREY, lw=2, label="ball of radius $1/\\lambda$")
    ax.plot(nsd[:, 0], nsd[:, 1], color=_BLUE, label="NSD-WD")
    ax.plot(fw[:, 0], fw[:, 1], "o", mfc="none", color=_ORANGE, ms=4, label="Frank–Wolfe")
    ax.plot(*QUAD_CENTER, "x", color=_RED, ms=9, mew=2, label="minimum of $L$")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=f"{_NORM_LABELS[norm]} ball, λ = {weight_decay:g}")
    ax.legend(loc="lower left", fontsize=8)
    return _png(fig)
