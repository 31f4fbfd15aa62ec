"""Benchmark: what ``implicit_bias.monitor`` costs inside a real training loop.

The model is the one of the monitor issue: an ``nn.TransformerEncoder`` (4 layers, d_model 256,
4 heads, feed-forward 1024, 3.2 M parameters) trained by ``torch.optim.AdamW`` at its defaults
on a fixed random batch (MSE to a random target).  Two ratios, each against the plain loop
measured in the same run, interleaved (plain, monitored, plain, ...) so that machine load
affects both alike; medians over repeats:

* ``report_over_step``: one ``constraint_report`` (after ``backward``, so with the KKT
  residual) over one training step (forward, backward, ``optimizer.step``); target <= 0.05,
  hard limit 0.10;
* ``monitor_overhead``: loop time with ``ConstraintMonitor(every=10)`` called after every step,
  over the plain loop's, minus 1; target <= 0.01, hard limit 0.05.  ``every=1`` is reported for
  information.

Run:  ``python bench/bench_monitor.py`` (about 3 minutes on 2 CPU cores); writes
``bench/results/monitor.json`` with provenance and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import torch

from implicit_bias import report
from implicit_bias.monitor import ConstraintMonitor, constraint_report

SEED = 0
RESULTS = Path(__file__).resolve().parent / "results" / "monitor.json"


def make_setup(batch: int, seq: int):
    """(model, optimizer, step function) of the benchmark's transformer."""
    torch.manual_seed(SEED)
    layer = torch.nn.TransformerEncoderLayer(256, 4, 1024, dropout=0.0, batch_first=True)
    model = torch.nn.TransformerEncoder(layer, 4, enable_nested_tensor=False)
    x, target = torch.randn(batch, seq, 256), torch.randn(batch, seq, 256)
    optimizer = torch.optim.AdamW(model.parameters())

    def step():
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), target).backward()
        optimizer.step()

    return model, optimizer, step


def seconds(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def report_ratio(model, optimizer, step, repeats: int) -> dict:
    """One report (with gradients) over one training step, interleaved."""
    steps, reports = [], []
    for _ in range(repeats):
        steps.append(seconds(step, 3))
        reports.append(seconds(lambda: constraint_report(model, optimizer, warn=False), 3))
    ratios = [r / s for r, s in zip(reports, steps)]
    return dict(step_ms=1e3 * statistics.median(steps), report_ms=1e3 * statistics.median(reports),
                median_ratio=statistics.median(ratios), max_ratio=max(ratios))


def loop_overhead(model, optimizer, step, every: int, repeats: int, steps: int) -> dict:
    """Loop time with ConstraintMonitor(every) over the plain loop's, minus 1, interleaved."""
    monitor = ConstraintMonitor(model, optimizer, every=every)

    def monitored():
        step()
        monitor()

    plain_t, monitored_t = [], []
    for _ in range(repeats):
        plain_t.append(seconds(step, steps))
        monitored_t.append(seconds(monitored, steps))
    overheads = [m / p - 1.0 for m, p in zip(monitored_t, plain_t)]
    return dict(every=every, plain_step_ms=1e3 * statistics.median(plain_t),
                monitored_step_ms=1e3 * statistics.median(monitored_t),
                median_overhead=statistics.median(overheads), max_overhead=max(overheads),
                records=len(monitor.history))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed block of the loop")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")  # the defaults' lambda = 0.01 warns nothing, but be sure
    model, optimizer, step = make_setup(args.batch, args.seq)
    n_params = sum(p.numel() for p in model.parameters())
    seconds(step, 3)  # warm-up: optimizer state, allocator
    results = {"report": report_ratio(model, optimizer, step, args.repeats),
               "monitor_every_10": loop_overhead(model, optimizer, step, 10, args.repeats, args.steps),
               "monitor_every_1": loop_overhead(model, optimizer, step, 1, max(3, args.repeats // 3),
                                                args.steps)}
    targets = dict(report_over_step=0.05, report_hard_limit=0.10, monitor_overhead=0.01,
                   monitor_hard_limit=0.05)
    config = dict(vars(args), n_params=n_params, model="TransformerEncoder(4 x (256, 4 heads, 1024))",
                  optimizer="torch.optim.AdamW() defaults", targets=targets)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"provenance": report.provenance(config, SEED),
                                   "results": results}, indent=2) + "\n")
    r, m10, m1 = results["report"], results["monitor_every_10"], results["monitor_every_1"]
    print(f"{n_params / 1e6:.2f}M parameters, {args.threads} thread(s), batch {args.batch}x{args.seq}")
    print(f"one step {r['step_ms']:.1f} ms; one report {r['report_ms']:.2f} ms: "
          f"ratio {r['median_ratio']:.4f} (target <= {targets['report_over_step']})")
    print(f"ConstraintMonitor(every=10): loop overhead {m10['median_overhead']:+.4f} "
          f"(target <= {targets['monitor_overhead']})")
    print(f"ConstraintMonitor(every=1):  loop overhead {m1['median_overhead']:+.4f} (information)")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
