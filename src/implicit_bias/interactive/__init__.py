r"""Interactive figures for the static site: Bokeh layouts whose sliders recompute in the browser.

Each builder returns an :class:`InteractiveFigure`, which a chapter cell displays as its last
expression. Its output carries up to three representations:

* ``text/html``, on the book's pages only (:data:`~implicit_bias.interactive.BOKEH_SERVED_ENV`): the Bokeh figure
  (``bokeh.embed.components``), whose callbacks run the maths of ``ibmath.js`` (this package's
  one file of browser-side maths), followed by a text alternative; BokehJS itself is served
  once from ``_static`` by ``book/_ext/site_assets.py`` on the pages that embed a figure;
* ``image/png`` (the PDF and a notebook): a matplotlib rendering at the default setting;
  :meth:`InteractiveFigure.save_html` writes the live figure as a page of its own;
* ``text/plain``: the text alternative.

The figure's first paint is computed here with the package (:func:`implicit_bias.adamw.run_adamw`,
:mod:`implicit_bias.bounds`, :mod:`implicit_bias.steepest`); every move of a control recomputes it
with ``ibmath.js``, which ``tests/test_interactive.py`` matches to the package to 1e-12.

Builders: :func:`radius_explorer` (``ch-adam-bounds`` and ``ch-check-your-run``),
:func:`adamw_playground` (``ch-adamw``), :func:`which_ball` (``ch-nsd-fw``).
"""

from . import _figure
from ._figure import InteractiveFigure, bokeh_served, quadratic_grad
from .balls import which_ball
from .playground import adamw_playground
from .radius import radius_explorer, radius_values

#: The browser-side maths (``ibmath.js``), inlined into every figure's callback.
LIBRARY = _figure.LIBRARY
#: Set (to ``1``) by the book's build (``book/_ext/site_assets.py``), whose pages serve BokehJS:
#: only then does a figure's output carry its live ``text/html``. Anywhere else (a notebook, a
#: script) the Bokeh script would find no BokehJS and draw an empty box, so the output is the
#: static PNG, and :meth:`InteractiveFigure.save_html` writes the live figure as a page.
BOKEH_SERVED_ENV = _figure.BOKEH_SERVED_ENV
#: The Hessian :math:`H` of the 2-D quadratic :math:`L(x)=\frac12(x-c)^\top H(x-c)` of the
#: AdamW and NSD-WD figures.
QUAD_HESSIAN = _figure.QUAD_HESSIAN
#: Its minimum :math:`c`, outside every ball of radius :math:`1/\lambda\le 1`.
QUAD_CENTER = _figure.QUAD_CENTER

__all__ = ["InteractiveFigure", "LIBRARY", "BOKEH_SERVED_ENV", "QUAD_HESSIAN", "QUAD_CENTER",
           "bokeh_served", "quadratic_grad", "radius_explorer", "radius_values",
           "adamw_playground", "which_ball"]
