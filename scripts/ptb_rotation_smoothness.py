"""ℓ2 and ℓ∞ smoothness estimates of the rotation runs (chapter ch-rotation), into a CSV.

At x_0 of seeds 0 and 1 in both bases, and at the end point of each optimizer's best seed-0 run
in each basis (which needs those runs' checkpoint.pt, i.e. run scripts/ptb_cpu_runs.sh first).
Writes ``smoothness.csv`` and ``smoothness.json`` (provenance) into the rotation results folder.

    PTB_DIR=... python scripts/ptb_rotation_smoothness.py [RESULTS_DIR] [--iterations 20]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from implicit_bias.ptb import results
from implicit_bias.ptb.data import load_corpus
from implicit_bias.ptb.analysis import best_learning_rates
from implicit_bias.ptb.smoothness import estimate_for_run
from implicit_bias.report import provenance

COLUMNS = ["run", "optimizer", "basis", "seed", "point", "step", "loss", "h2", "hinf", "dim",
           "iterations", "seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path,
                        default=results.committed_results_dir("cpu-rotation"))
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    runs = results.load_runs(args.folder)
    config = runs[0].config
    corpus = load_corpus(None, config.train_tokens, config.valid_tokens, vocab=config.vocab)
    points = []
    for seed in (0, 1):  # x_0: the same for every optimizer of a basis and seed
        for rotated in (False, True):
            run = next(r for r in runs if r.config.seed == seed
                       and r.config.rotated == rotated)
            points.append((run, False))
    best = best_learning_rates([r for r in runs if r.config.seed == 0])
    points += [(run, True) for _, run in sorted(best.items())]
    rows = []
    for run, at_end in points:
        start = time.perf_counter()
        est = estimate_for_run(run, at_end=at_end, iterations=args.iterations, corpus=corpus)
        rows.append(dict(run=run.dir.name, optimizer=run.config.optimizer if at_end else "",
                         basis="rotated" if run.config.rotated else "own",
                         seed=run.config.seed, point="end" if at_end else "start",
                         step=run.summary.steps_done if at_end else 0, loss=est.loss, h2=est.h2,
                         hinf=est.hinf, dim=est.dim, iterations=est.iterations,
                         seconds=time.perf_counter() - start))
        print({k: rows[-1][k] for k in ("run", "point", "loss", "h2", "hinf")}, flush=True)
    results.write_csv(args.folder / "smoothness.csv", COLUMNS, rows)
    results.write_json(args.folder / "smoothness.json",
                       provenance(dict(iterations=args.iterations, estimator_seed=0,
                                       points=[r["run"] + ":" + r["point"] for r in rows])))


if __name__ == "__main__":
    main()
