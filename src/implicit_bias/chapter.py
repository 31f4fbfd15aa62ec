"""What every chapter of the book shares: its opening cell, its computed tables, its tolerances.

* :func:`setup` is the opening cell of a chapter: the provenance line, the book's plotting style,
  the seeds, and the chapter's random generator.
* :func:`markdown_table` turns rows of numbers into the Markdown table a chapter shows with
  ``display(Markdown(...))``; the site renders it through MyST (``nb_render_markdown_format:
  myst``), so cells may hold ``$math$``.
* The ``TOL_*`` constants are the tolerances that two or more chapters use with the same meaning.

**One naming rule for tolerances.** A tolerance is called ``TOL_<SOURCE>``, after the error it
absorbs (``TOL_FLOAT64_ROUNDOFF``, ``TOL_CLARABEL``), never after the quantity it is compared with.
Two tolerances with different values therefore have different names, and a chapter-specific one
(kept in its chapter) follows the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from tabulate import tabulate

from . import plotting, report

__all__ = ["setup", "markdown_table", "TOL_FLOAT64_ROUNDOFF", "TOL_FLOAT32_ROUNDOFF",
           "TOL_BFLOAT16_NEWTON_SCHULZ", "TOL_CLARABEL", "TOL_CLARABEL_POWER_CONE",
           "TOL_CROSS_MACHINE_ROUNDOFF", "TOL_OSCILLATION_STEPS"]

#: Relative round-off of float64 arithmetic over the short sums, products and recursions of a
#: chapter: a few ulps (:math:`u = 2^{-53} \approx 1.1\cdot10^{-16}`) times at most ~10⁴ operations.
TOL_FLOAT64_ROUNDOFF = 1e-12

#: Relative round-off of float32 parameters (:math:`2^{-23}\approx1.2\cdot10^{-7}`) over a few
#: operations: the decay and the update of one step round separately.
TOL_FLOAT32_ROUNDOFF = 1e-6

#: Relative excess of torch's Newton–Schulz iteration, which runs in bfloat16 (8-bit mantissa);
#: its measured excess over the exact polar factor is below 0.2%.
TOL_BFLOAT16_NEWTON_SCHULZ = 0.02

#: Accuracy of a cvxpy/Clarabel minimiser on a linear or second-order cone program (Clarabel
#: stops at a 1e-10 duality gap, and the minimiser is accurate to about its square root or better).
TOL_CLARABEL = 1e-7

#: Accuracy of a cvxpy/Clarabel minimiser when a general ℓp ball (power cones, p = 1.5 or 3)
#: enters: those cones are solved far less accurately than linear and second-order ones.
TOL_CLARABEL_POWER_CONE = 1e-4

#: Relative difference of a short float32 training run replayed on another CPU from the committed
#: one: 0 on the producing machine, round-off growth through other kernels elsewhere.
TOL_CROSS_MACHINE_ROUNDOFF = 1e-3

#: Drift allowed to a converged run, in units of the last step size :math:`\eta_T`: a few
#: oscillating steps of size at most :math:`2\eta_T`, not a drift of order :math:`T\eta_T`.
TOL_OSCILLATION_STEPS = 8

_ALIGNMENTS = {"l": "left", "r": "right", "c": "center", "-": None}


def setup(seed: int = 0, *, torch: bool = False) -> np.random.Generator:
    """Run a chapter's opening cell and return its random generator.

    Prints the provenance line (:func:`implicit_bias.report.header`), applies the book's
    plotting style (:func:`implicit_bias.plotting.use_book_style`) and, with ``torch=True``,
    pins torch to one thread and seeds it, so that torch's float sums are reduced in the same
    order on every machine.

    Args:
        seed: the chapter's seed, printed in the provenance line.
        torch: also set ``torch.set_num_threads(1)`` and ``torch.manual_seed(seed)``.

    Returns:
        ``np.random.default_rng(seed)``.

    >>> rng = setup(3)  # doctest: +ELLIPSIS
    implicit_bias ... | seed 3 | ...
    >>> float(rng.random()) == float(np.random.default_rng(3).random())
    True
    """
    report.header(seed=seed)
    plotting.use_book_style()
    if torch:
        import torch as torch_module  # imported here: chapters without torch do not pay for it

        torch_module.set_num_threads(1)
        torch_module.manual_seed(seed)
    return np.random.default_rng(seed)


def markdown_table(rows: Iterable[Sequence], headers: Sequence[str], *, align: str | None = None,
                   formats: Sequence[str] | str | None = None) -> str:
    """A Markdown (pipe) table of ``rows`` under ``headers``, laid out by ``tabulate``.

    Strings are shown as given, so a chapter may pre-format a cell (``f"{x:.2e} ({y:.0%})"``);
    any other value is shown as ``format(value, spec)`` with its column's spec from ``formats``.
    A ``|`` inside a cell or header is escaped as ``\\|``, so it reaches the rendered cell
    verbatim (in LaTeX, ``$\\|x\\|$`` is a norm) instead of splitting the cell.

    Args:
        rows: the table's rows, each a sequence with one entry per header.
        headers: the column titles; they may contain ``$math$``.
        align: one letter per column: ``l`` left, ``r`` right, ``c`` centred, ``-`` the
            renderer's default (a ``---`` rule). ``None`` leaves every column at the default.
        formats: one format spec per column (``".3e"``, ``".2%"``, ``""`` for ``str``), or one
            spec for every column; ``None`` shows values with ``str``.

    Returns:
        The table as Markdown, without a trailing newline.

    Raises:
        ValueError: if a row, ``align`` or ``formats`` does not have one entry per column, or
            ``align`` holds a letter other than ``l``, ``r``, ``c``, ``-``.

    >>> print(markdown_table([["ℓ∞", 0.5], ["a|b", 2.0]], ["norm", "$x$"], align="-r", formats=["", ".2f"]))
    | norm |   $x$ |
    |--------|------:|
    | ℓ∞ |  0.50 |
    | a\\|b |  2.00 |
    """
    n_columns = len(headers)
    column_formats = _column_formats(formats, n_columns)
    body = [_format_row(row, column_formats) for row in rows]
    return tabulate(body, headers=[_escape_pipes(str(h)) for h in headers], tablefmt="pipe",
                    colalign=_column_alignments(align, n_columns), disable_numparse=True)


def _column_formats(formats: Sequence[str] | str | None, n_columns: int) -> list[str]:
    """One format spec per column (``""`` means ``str``)."""
    if formats is None or isinstance(formats, str):
        return [formats or ""] * n_columns
    if len(formats) != n_columns:
        raise ValueError(f"formats has {len(formats)} entries for {n_columns} columns")
    return list(formats)


def _column_alignments(align: str | None, n_columns: int) -> list[str | None]:
    """tabulate's ``colalign`` from one letter per column; ``None`` draws a plain ``---`` rule."""
    if align is None:
        return [None] * n_columns
    if len(align) != n_columns or not set(align) <= set(_ALIGNMENTS):
        raise ValueError(f"align must be {n_columns} letters from 'l', 'r', 'c', '-'; got {align!r}")
    return [_ALIGNMENTS[letter] for letter in align]


def _format_row(row: Sequence, column_formats: list[str]) -> list[str]:
    """The cells of one row as escaped strings: strings as given, other values formatted."""
    if len(row) != len(column_formats):
        raise ValueError(f"a row has {len(row)} cells for {len(column_formats)} columns: {row!r}")
    return [_escape_pipes(value if isinstance(value, str) else format(value, spec))
            for value, spec in zip(row, column_formats)]


def _escape_pipes(cell: str) -> str:
    """Escape ``|`` so that Markdown keeps it inside the cell; newlines would end the row."""
    return cell.replace("|", "\\|").replace("\n", " ")
