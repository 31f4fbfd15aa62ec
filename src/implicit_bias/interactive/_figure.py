r"""What the interactive figures share: :class:`InteractiveFigure`, the browser-side maths
(:data:`LIBRARY`), the 2-D test quadratic, and the Bokeh and matplotlib pieces of every builder."""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from pathlib import Path

import numpy as np

from .. import validation

# The public names and their documentation: implicit_bias.interactive.
LIBRARY = (Path(__file__).with_name("ibmath.js")).read_text(encoding="utf-8")
BOKEH_SERVED_ENV = "IMPLICIT_BIAS_BOKEH_SERVED"
QUAD_HESSIAN = ((1.0, 0.5), (0.5, 1.0))
QUAD_CENTER = (2.0, -1.5)

NORMS = {"l1": 1, "l2": 2, "linf": math.inf}
NORM_LABELS = {"l1": "ℓ₁", "l2": "ℓ₂", "linf": "ℓ∞"}
GREY, BLACK = "#7f7f7f", "black"
BLUE, ORANGE, RED = "#1f77b4", "#ff7f0e", "#d62728"  # the radii of the explorer
#: plotted widths below which a two-panel figure stacks its panels (each keeps this width)
PANEL_MIN_WIDTH = 320


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


def bokeh_served() -> bool:
    """Whether the page that shows a figure's output serves BokehJS (see :data:`~implicit_bias.interactive.BOKEH_SERVED_ENV`)."""
    return os.environ.get(BOKEH_SERVED_ENV) == "1"


class InteractiveFigure:
    """A Bokeh layout with its text alternative and static rendering.

    Displayed (``_repr_mimebundle_``) it is ``image/png`` (the PDF, a notebook) and
    ``text/plain`` (the text alternative), plus the live ``text/html`` where
    :func:`~implicit_bias.interactive.bokeh_served`: the book's pages.

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
        import bokeh
        from bokeh.embed import components

        script, div = components(self.layout)
        return (f'<div class="ib-interactive" data-figure="{self.name}" '
                f'data-bokeh-version="{bokeh.__version__}" '
                f"data-defaults='{html.escape(json.dumps(self.defaults), quote=True)}'>\n"
                f'{div}\n{script}\n<p class="ib-alt">{html.escape(self.alt)}</p>\n</div>')

    def save_html(self, path) -> Path:
        """Write the figure as a standalone page with BokehJS inlined (opens offline in any
        browser); returns the path."""
        from bokeh.embed import file_html
        from bokeh.resources import INLINE

        path = Path(path)
        page = file_html(self.layout, INLINE, title=self.name)
        head, tail = page.rsplit("</body>", 1)  # the last one: BokehJS's own text holds others
        path.write_text(f'{head}<p>{html.escape(self.alt)}</p>\n</body>{tail}', encoding="utf-8")
        return path

    def png(self) -> bytes:
        """The static rendering at the default setting (PNG bytes)."""
        return self._png

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = {"image/png": base64.b64encode(self._png).decode("ascii"), "text/plain": self.alt}
        if bokeh_served():
            data["text/html"] = self.to_html()
        return data, {"implicit_bias": {"interactive": self.name}}

    def __repr__(self) -> str:
        return f"InteractiveFigure({self.name!r})"


def check_ranges(**values) -> list[float]:
    """:func:`~implicit_bias.validation.in_range` for each ``name=(value, lo, hi)``: the values."""
    return [validation.in_range(name, *spec) for name, spec in values.items()]


# ----------------------------------------------------------------------------- Bokeh pieces
def slider(title, start, end, step, value, fmt):
    """A keyboard-operable slider with its title and value shown, as wide as the column."""
    from bokeh.models import Slider

    return Slider(title=title, start=start, end=end, step=step, value=value, format=fmt,
                  sizing_mode="stretch_width")


def plot(title, x_label, y_label, **kw):
    """An empty panel without toolbar or tools: the controls are the figure's only inputs."""
    from bokeh.plotting import figure

    p = figure(title=title, x_axis_label=x_label, y_axis_label=y_label, height=300,
               min_width=PANEL_MIN_WIDTH, sizing_mode="stretch_width", toolbar_location=None,
               tools="", **kw)
    p.title.text_font_size = "11pt"
    return p


def place_legend(p, location: str) -> None:
    """Put the legend (once the glyphs exist) inside the frame at ``location``, half transparent,
    or ``"below"`` it, where a ball that fills the frame would hide behind it."""
    if location == "below":
        legend = p.legend[0]
        p.add_layout(legend, "below")
        legend.orientation, legend.ncols = "horizontal", 2
        legend.border_line_color = None
        return
    p.legend.location = location
    p.legend.background_fill_alpha = 0.7


def panels(*plots):
    """Panels side by side that wrap onto rows of their own where the column is narrower than
    their minimum widths (a phone): a CSS flex row with ``flex-wrap``."""
    from bokeh.layouts import row

    return row(*plots, sizing_mode="stretch_width",
               stylesheets=[":host { flex-wrap: wrap; row-gap: 10px; }"])


def figure_layout(controls, readout, *plots):
    """Controls, then the readout, then the panels: one column as wide as the page's."""
    from bokeh.layouts import column

    body = panels(*plots) if len(plots) > 1 else plots[0]
    return column(*controls, readout, body, sizing_mode="stretch_width")


def readout_div(text: str, name: str):
    from bokeh.models import Div

    return Div(text=text, sizing_mode="stretch_width", name=name)


def to_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes at the site's 100 dpi (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def legend_below(ax) -> None:
    """The PNG twin's counterpart of ``place_legend(p, "below")``: under the axes, off the ball."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8, frameon=False)


def square(r: float) -> tuple[list, list]:
    """Outline of the l-infinity ball of radius r (empty for r not finite)."""
    if not math.isfinite(r):
        return [], []
    return [-r, r, r, -r, -r], [-r, -r, r, r, -r]


def ball(norm: str, r: float, n: int = 72) -> tuple[list, list]:
    """Outline of the ball of radius r of ``norm`` (l1: diamond, l2: circle, linf: square);
    :data:`BALL_JS` draws the same points in the browser."""
    if norm == "linf":
        return square(r)
    if norm == "l1":
        return [r, 0.0, -r, 0.0, r], [0.0, r, 0.0, -r, 0.0]
    angles = [2.0 * math.pi * k / n for k in range(n + 1)]
    return [r * math.cos(a) for a in angles], [r * math.sin(a) for a in angles]


BALL_JS = """
function ballOutline(norm, r) {
  if (norm === 'linf') return [[-r, r, r, -r, -r], [-r, -r, r, r, -r]];
  if (norm === 'l1') return [[r, 0.0, -r, 0.0, r], [0.0, r, 0.0, -r, 0.0]];
  var xs = [], ys = [];
  for (var k = 0; k <= 72; k++) { var a = 2.0 * Math.PI * k / 72; xs.push(r * Math.cos(a)); ys.push(r * Math.sin(a)); }
  return [xs, ys];
}
"""


def quadratic_js() -> str:
    """The JS constants of :func:`quadratic_grad`'s default problem (``H`` and ``C``)."""
    return f"var H = {[list(r) for r in QUAD_HESSIAN]}, C = {list(QUAD_CENTER)};\n"


def fmt(value: float, digits: int = 3) -> str:
    return "none" if not math.isfinite(value) else f"{value:.{digits}g}"
