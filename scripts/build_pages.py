#!/usr/bin/env python3
"""Build a subset of the book's pages (executed, nitpicky) in a scratch copy, for authors.

    .venv/bin/python scripts/build_pages.py book/convex_rate [book/synthetic_quadratic ...]

Builds book/intro (if present) + the given pages + the bibliography in a temporary directory
and fails on any Sphinx warning, except references to labels of chapters that are not in the
subset (those are checked by the full `make book`).  Prints the execution time of each page.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(pages: list[str]) -> int:
    pages = [p[:-3] if p.endswith(".md") else p for p in pages]
    with tempfile.TemporaryDirectory(prefix="jb-subset-") as tmp:
        tmp = Path(tmp)
        shutil.copy(ROOT / "_config.yml", tmp / "_config.yml")
        shutil.copytree(ROOT / "book", tmp / "book")
        shutil.copytree(ROOT / "bench" / "results", tmp / "bench" / "results")  # read by chapters
        root = "book/intro" if (ROOT / "book/intro.md").exists() else pages[0]
        chapters = "".join(f"      - file: {p}\n" for p in pages if p != root)
        (tmp / "_toc.yml").write_text(
            f"format: jb-book\nroot: {root}\nparts:\n  - caption: Subset\n    numbered: true\n"
            f"    chapters:\n{chapters}      - file: book/bibliography\n")
        jb = ROOT / ".venv/bin/jupyter-book"
        proc = subprocess.run([str(jb), "build", "-n", "--keep-going", str(tmp)],
                              capture_output=True, text=True)
        out = proc.stdout + proc.stderr
        warnings = [l for l in out.splitlines() if "WARNING" in l or "ERROR" in l]
        tolerated = re.compile(r"(undefined label|label '.*' not found|unknown document|"
                               r"failed to create a cross reference|prf:ref reference target not found|equation not found|Kernel is running over TCP)")
        real = [w for w in warnings if not tolerated.search(w)]
        for line in out.splitlines():
            if re.search(r"Executing|execution|Executed", line):
                print(line)
        for w in warnings:
            print(("TOLERATED " if w not in real else "") + w)
        print("build exit code", proc.returncode, "| real warnings:", len(real))
        if proc.returncode != 0 or real:
            print(out[-6000:])
            return 1
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
