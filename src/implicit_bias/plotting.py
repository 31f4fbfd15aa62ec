"""The book's one plotting style: figure size, colours per method and norm, log axes helpers.

Each norm keeps its colour across chapters (ℓ1 green, ℓ2 blue, ℓ∞ red, other p purple), and
each optimizer family keeps its own (AdamW red, Adam-ℓ2 blue, plain Adam grey).
"""

from __future__ import annotations

import math

import matplotlib as mpl
import matplotlib.pyplot as plt

NORM_COLORS = {"l1": "#2ca02c", "l2": "#1f77b4", "linf": "#d62728"}
OPTIMIZER_COLORS = {"adamw": "#d62728", "adam-l2": "#1f77b4", "adam-l2-sum": "#17becf",
                    "adam": "#7f7f7f", "nsd": "#ff7f0e"}
BOUND_STYLE = dict(color="black", linestyle="--", linewidth=1.2)


def use_book_style() -> None:
    """Set the rcParams the whole book uses (call once per chapter, in the imports cell)."""
    mpl.rcParams.update({
        "figure.figsize": (6.4, 3.6),
        "figure.dpi": 110,
        "savefig.dpi": 110,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
        "font.size": 10,
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
    """``plt.subplots`` with the book's size per panel."""
    return plt.subplots(nrows, ncols, figsize=(width * ncols / max(1, ncols) ** 0.35,
                                                height * nrows / max(1, nrows) ** 0.2),
                        constrained_layout=True, **kw)
