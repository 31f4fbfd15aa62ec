"""Fail when the PDF's final LaTeX pass left a cross-reference or a hyperlink undefined.

``latexmk`` reruns until the references settle, so ``book.log`` is the last pass: a reference
still undefined there is a dead link in the PDF ("Lemma 4.2" pointing nowhere), which neither
Sphinx's ``-W`` nor LaTeX's exit status reports.

    python scripts/check_latex_log.py _build/latex/book.log
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# TeX wraps its log at 79 columns, so the warning is matched after joining the lines.
UNDEFINED = re.compile(r"(?:Hyper r|R)eference `([^']+)' on page \d+ undefined")


def undefined_references(log_text: str) -> list[str]:
    """Each label the log reports as undefined, once, in order of first appearance."""
    return list(dict.fromkeys(UNDEFINED.findall(log_text.replace("\n", ""))))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python scripts/check_latex_log.py _build/latex/book.log", file=sys.stderr)
        return 2
    path = Path(argv[1])
    if not path.is_file():
        print(f"error: no LaTeX log at {path}: build the PDF first (make pdf)", file=sys.stderr)
        return 2
    labels = undefined_references(path.read_text(encoding="utf-8", errors="replace"))
    if labels:
        print(f"error: the PDF has {len(labels)} undefined reference(s) in {path}: "
              + ", ".join(labels), file=sys.stderr)
        return 1
    print(f"{path}: no undefined references")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
