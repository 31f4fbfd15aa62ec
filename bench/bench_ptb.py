"""Benchmark: one paper-scale full-batch PTB gradient on CPU, our trainer vs a plain eager loop.

Both compute the same gradient of the mean cross-entropy over the same micro-batches of 35-token
chunks of the full training split (929,565 tokens, 10,000 words, width 200):

* **ours**: ``Trainer.compute_gradient`` (chunked output layer + loss, gradient of the decoder
  computed in the same pass: no ``tokens x vocabulary`` logits buffer kept per micro-batch);
* **eager**: ``model(x)`` -> ``F.cross_entropy(..., reduction="sum")`` -> ``backward()`` per
  micro-batch, the textbook loop.

Reported: seconds per full-batch gradient, tokens/s, achieved FLOP/s (matrix-product FLOPs of
``implicit_bias.ptb.model.training_flops``, about 14 TFLOP per gradient), the ratio eager/ours
(target >= 1.3), the largest relative gradient difference, and the ``cpu`` configuration's time per
run (from the committed sweep's ``run.json`` files).  ``--fraction f`` times only the first
fraction ``f`` of the micro-batches and extrapolates linearly (stated in the output); a full
gradient takes about 100-140 s per method on 2 cores.

Run: ``python bench/bench_ptb.py [--fraction 0.05] [--threads 2]``; writes ``bench/results/ptb.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from implicit_bias import report
from implicit_bias.ptb.configs import get_config
from implicit_bias.ptb.model import training_flops
from implicit_bias.ptb.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "ptb.json"


def eager_gradient(trainer: Trainer, batches) -> float:
    """The textbook loop: full logits per micro-batch, ``F.cross_entropy``, ``backward``."""
    model, n_tok = trainer.model, sum(trainer.targets[b].numel() for b in batches)
    model.zero_grad(set_to_none=True)
    total = 0.0
    for sel in batches:
        logits = model(trainer.inputs[sel])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                               trainer.targets[sel].reshape(-1), reduction="sum")
        (loss / n_tok).backward()
        total += float(loss.detach())
    return total / n_tok


def ours_gradient(trainer: Trainer, batches) -> float:
    """``Trainer.compute_gradient`` restricted to ``batches`` (same code path, same scaling)."""
    n_tok = sum(trainer.targets[b].numel() for b in batches)
    for p in trainer.params:
        p.grad = torch.zeros_like(p)
    total = 0.0
    for sel in batches:
        part = trainer.model.loss_sum(trainer.inputs[sel], trainer.targets[sel],
                                      trainer.config.loss_chunk_rows)
        part.backward()
        total += float(part.detach())
    torch._foreach_div_([p.grad for p in trainer.params], float(n_tok))
    return total / n_tok


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=1.0,
                        help="time this fraction of the micro-batches and extrapolate")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--micro-batch", type=int, default=256)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = get_config("paper", micro_batch=args.micro_batch, threads=args.threads)
    trainer = Trainer(config, show_progress=False)
    n = trainer.inputs.shape[0]
    all_batches = [torch.arange(s, min(s + args.micro_batch, n)) for s in range(0, n, args.micro_batch)]
    used = all_batches[: max(1, round(args.fraction * len(all_batches)))]
    scale = n / sum(b.numel() for b in used)  # extrapolation factor to the full gradient
    timings, grads = {}, {}
    for name, fn in (("ours", ours_gradient), ("eager", eager_gradient)):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = fn(trainer, used)
        timings[name] = dict(seconds=(time.perf_counter() - t0) * scale,
                             cpu_seconds=(time.process_time() - c0) * scale, loss=loss)
        grads[name] = [p.grad.clone() for p in trainer.params]
    flop = training_flops(config.d_model, config.d_ff, config.n_layers,
                          trainer.corpus.vocab_size, config.seq_len, int(trainer.inputs.numel()))
    for t in timings.values():
        t.update(tokens_per_s=trainer.inputs.numel() / t["seconds"], flops=flop / t["seconds"])
    rel = max(float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))
              for a, b in zip(grads["ours"], grads["eager"]))
    cpu_runs = [json.loads(p.read_text())["timing"]
                for p in sorted((ROOT / "book" / "results" / "ptb" / "cpu").glob("*/run.json"))]
    result = dict(
        full_batch_gradient=timings, ratio_eager_over_ours=timings["eager"]["seconds"] / timings["ours"]["seconds"],
        target_ratio=1.3, max_relative_gradient_difference=rel, flop_per_gradient=flop,
        fraction_timed=sum(b.numel() for b in used) / n, extrapolated=args.fraction < 1.0,
        cpu_config_per_run=dict(
            runs=len(cpu_runs),
            median_cpu_s=statistics.median(t["cpu_time_s"] for t in cpu_runs) if cpu_runs else None,
            median_wall_s=statistics.median(t["wall_time_s"] for t in cpu_runs) if cpu_runs else None,
            note="from the committed book/results/ptb/cpu/*/run.json; their README gives the "
                 "machine, threads and load"),
        load_average=os.getloadavg(),
        provenance=report.provenance(dict(fraction=args.fraction, threads=args.threads,
                                          micro_batch=args.micro_batch), seed=config.seed))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    for name, t in timings.items():
        print(f"{name:5s}: {t['seconds']:7.1f} s per full-batch gradient"
              f"{' (extrapolated from ' + format(args.fraction, '.0%') + ')' if args.fraction < 1 else ''}, "
              f"{t['tokens_per_s']:8.0f} tokens/s, {t['flops'] / 1e9:6.1f} GFLOP/s")
    print(f"ratio eager/ours = {result['ratio_eager_over_ours']:.2f} (target >= 1.3); "
          f"max relative gradient difference {rel:.1e}; wrote {RESULTS}")
    return result


if __name__ == "__main__":
    main()
