"""The book's one plotting style: figure size, colours per method and norm, log axes helpers.

Each norm keeps its colour across chapters (ℓ1 green, ℓ2 blue, ℓ∞ red, other p purple), and
each optimizer family keeps its own (AdamW red, Adam-ℓ2 blue, plain Adam grey, gradient descent
green, sign descent orange, Lion purple, Muon brown).
"""

from __future__ import annotations

import math

import matplotlib as mpl
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker

NORM_COLORS = {"l1": "#2ca02c", "l2": "#1f77b4", "linf": "#d62728"}
#: one colour and one legend label per optimizer, keyed by the names of ``ptb.configs.OPTIMIZERS``
#: (plus the PTB chapter's summed-loss Adam-ℓ2 and the book's NSD-WD); the one home of both
OPTIMIZER_COLORS = {"adamw": "#d62728", "adam-l2": "#1f77b4", "adam-l2-sum": "#17becf",
                    "adam": "#7f7f7f", "nsd": "#ff7f0e", "lion": "#9467bd", "muon": "#8c564b",
                    "sgd": "#2ca02c"}
#: the methods of the small-problem chapters (margins, rotation), by the short names they use.
#: There Adam is Algorithm 1 (with or without decay), so it takes AdamW's red, and sign descent
#: is NSD in ℓ∞, so it takes NSD-WD's orange; the other entries are OPTIMIZER_COLORS' own
METHOD_COLORS = {"gd": OPTIMIZER_COLORS["sgd"], "ngd": "#17becf", "sign": OPTIMIZER_COLORS["nsd"],
                 "adam": OPTIMIZER_COLORS["adamw"], "lion": OPTIMIZER_COLORS["lion"],
                 "muon": OPTIMIZER_COLORS["muon"]}
OPTIMIZER_LABELS = {"adamw": "AdamW", "adam": "Adam (no decay)", "adam-l2": "Adam-ℓ2, mean loss",
                    "adam-l2-sum": "Adam-ℓ2, summed loss", "nsd": "NSD-WD", "lion": "Lion",
                    "muon": "torch Muon + AdamW", "sgd": "GD (torch SGD)"}
BOUND_STYLE = dict(color="black", linestyle="--", linewidth=1.2)
COLUMN_WIDTH_IN = 6.4   # the site's text column at 100 dpi
MAX_COLUMNS = 2         # panels per row that stay legible at the column width


class _PlainLogFormatter(mticker.LogFormatter):
    """Log-axis tick labels as plain numbers (0.4, 2, 10) rather than 4×10⁻¹."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:g}"


def plain_log_ticks(ax, axis: str = "y") -> None:
    """Label the log ``axis`` of ``ax`` with plain numbers.  Minor ticks are labelled only when
    the axis spans about a decade or less (matplotlib's rule), so a short range still reads."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(_PlainLogFormatter(labelOnlyBase=False))
    target.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def use_book_style() -> None:
    """Set the rcParams the whole book uses (call once per chapter, in the imports cell)."""
    mpl.rcParams.update({
        # Figures are drawn for the page: 6.4 in at 100 dpi is 640 px, the width of the text
        # column, so they are shown at (or near) natural size on a desktop and at more than half of
        # it on a 390 px phone; a 12 pt font is then the size of the body text.
        "figure.figsize": (COLUMN_WIDTH_IN, 3.6),
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
        "font.size": 12,
        "legend.fontsize": 10,
    })


def norm_color(norm) -> str:
    """Colour of a norm given as an ``LpNorm``, a name or an exponent."""
    name = getattr(norm, "name", norm)
    if isinstance(name, (int, float)):
        name = "linf" if math.isinf(name) else f"l{name:g}"
    return NORM_COLORS.get(str(name), "#9467bd")


def norm_label(norm) -> str:
    """LaTeX label such as ``$\\ell_\\infty$`` for a norm."""
    p = getattr(norm, "p", None)
    if p is None:
        from .norms import get_norm

        p = get_norm(norm).p
    return r"$\ell_\infty$" if math.isinf(p) else rf"$\ell_{{{p:g}}}$"


def subplots(nrows: int = 1, ncols: int = 1, width: float = 6.4, height: float = 3.6, **kw):
    """``plt.subplots`` sized for the text column: at most two panels per row.

    The figure is always ``COLUMN_WIDTH_IN`` wide. A row of more than two panels is wrapped
    onto further rows (``1 x 3`` becomes two rows, the spare panel removed), and panels asked for
    at ``width`` of 8 in or more (wide time series) are stacked one per row. The axes come back in
    the order asked for: a single ``Axes``, or a flat array for one requested row.
    """
    panels = nrows * ncols
    per_row = 1 if width >= 8 else min(ncols, MAX_COLUMNS)
    rows = nrows if ncols <= per_row else nrows * math.ceil(ncols / per_row)
    row_height = height if per_row == 1 else min(height, 3.0)
    fig = plt.figure(figsize=(COLUMN_WIDTH_IN, row_height * rows), layout="constrained")
    grid = fig.subplots(rows, per_row, squeeze=False, **kw).ravel()
    for spare in grid[panels:]:
        spare.remove()
    axes = grid[:panels]
    if panels == 1:
        return fig, axes[0]
    return fig, (axes if nrows == 1 else axes.reshape(nrows, ncols))
