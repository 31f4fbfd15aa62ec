"""The report as a table a user reads: aligned text or markdown, via ``tabulate``."""

from __future__ import annotations

import math

from tabulate import tabulate

__all__ = ["REPORT_COLUMNS", "HISTORY_COLUMNS", "format_report", "format_value"]

#: columns of :meth:`ConstraintReport.table` (``rule``: the result that gives the radius)
REPORT_COLUMNS = ("name", "group", "norm", "value", "radius", "ratio", "saturated",
                  "kkt_residual", "rule", "note")
#: columns of :class:`ConstraintMonitor`'s history and CSV file
HISTORY_COLUMNS = ("step", "group", "norm", "lr", "max_ratio", "worst_tensor", "max_value",
                   "radius", "rule", "saturated", "max_kkt_residual", "log_v_range")


def format_value(value) -> str:
    """``None`` as ``—``, infinity as ``∞``, floats with 4 significant digits."""
    if value is None:
        return "—"
    if isinstance(value, float):
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        return f"{value:.4g}"
    return str(value)


def format_report(rows, markdown: bool = False, columns=REPORT_COLUMNS) -> str:
    """A table of ``rows`` (dicts): aligned plain text, or a GitHub markdown table
    (``markdown=True``); see :func:`format_value` for the cells."""
    cells = [[format_value(row.get(c)).replace("|", "\\|") if markdown else
              format_value(row.get(c)) for c in columns] for row in rows]
    table = tabulate(cells, headers=list(columns), tablefmt="github" if markdown else "plain",
                     disable_numparse=True)
    return "\n".join(line.rstrip() for line in table.splitlines())
