"""Benchmark: wall time of each step of ``make test``, so its total is known with and without
the reader's checks.

Timings, each in wall-clock seconds on this machine, in the order ``make test`` runs them:

* ``tests``: the package tests (``make pytest``: doctests of the package and tests/);
* ``html``: ``make html`` after removing ``_build/`` (every chapter executed afresh);
* ``pdf``: ``make pdf`` (reuses the executions of ``html``; TeX only);
* ``site_test``: ``make site-test`` (the browser test and every chapter notebook executed).

The JSON also holds ``make_test_seconds`` (the sum) and ``make_test_without_site_test_seconds``.

Run from anywhere:  ``.venv/bin/python bench/build_times.py``  (several minutes: it builds the whole
book). Writes ``bench/results/build_times.json`` with provenance and prints both figures. A step that
fails is reported with its exit code and the tail of its output, and the script exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from implicit_bias import report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "build_times.json"
PYTHON = ROOT / ".venv" / "bin" / "python"


def timed(command: list[str], label: str) -> dict:
    """Run ``command`` in the repository root; return wall seconds, exit code and an output tail."""
    print(f"[{label}] {' '.join(command)}", flush=True)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    print(f"[{label}] exit code {proc.returncode} after {seconds:.1f} s", flush=True)
    result = {"command": " ".join(command), "wall_seconds": round(seconds, 2),
              "returncode": proc.returncode}
    if proc.returncode != 0:
        result["output_tail"] = (proc.stdout + proc.stderr)[-4000:]
        print(result["output_tail"], file=sys.stderr)
    return result


def time_book() -> dict:
    """``make html``, ``make pdf`` and ``make site-test`` from a clean ``_build``."""
    shutil.rmtree(ROOT / "_build", ignore_errors=True)
    return {step.replace("-", "_"): timed(["make", step], step)
            for step in ("html", "pdf", "site-test")}


def time_tests(workers: int) -> dict:
    """The package test suite, as ``make pytest`` runs it."""
    return timed([str(PYTHON), "-m", "pytest", "-n", str(workers), "-q", "src", "tests",
                  "--ignore=tests/site"], "tests")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (default 2)")
    parser.add_argument("--skip-book", action="store_true", help="time only the test suite")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)

    timings = {"tests": time_tests(args.workers)}
    if not args.skip_book:
        timings.update(time_book())
    total = sum(t["wall_seconds"] for t in timings.values())
    without_site = total - timings.get("site_test", {}).get("wall_seconds", 0.0)

    record = {"timings": timings, "make_test_seconds": round(total, 1),
              "make_test_without_site_test_seconds": round(without_site, 1),
              "provenance": report.provenance(config={"workers": args.workers,
                                                      "skip_book": args.skip_book}, seed=None)}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")

    print("\n| step | wall seconds | exit code |\n|---|---|---|")
    for name, t in timings.items():
        print(f"| {name} | {t['wall_seconds']:.1f} | {t['returncode']} |")
    print(f"| make test (sum) | {total:.1f} | |\n| without site-test | {without_site:.1f} | |")
    print(f"written to {args.output}")
    return 0 if all(t["returncode"] == 0 for t in timings.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
