"""Prepared GPU check of the PTB trainer (run by scripts/gpu_check.sh; at most ~8 minutes on one H200).

1. agreement: a few steps of the ``cpu`` configuration on the GPU (strict fp32, and TF32) against
   the same steps on the CPU;
2. paper-scale step time: full-batch gradient + AdamW step of the ``paper`` configuration, and the
   achieved FLOP/s as a fraction of the GPU's peak (FLOP count and peak stated in the output);
3. as many paper-scale AdamW and Adam-l2 steps at beta = (0.99, 0.99), lambda = 1 as fit in the
   remaining budget, written as ordinary run directories (run.json, metrics.csv, tensor_linf.csv).

Everything goes to ``--out`` (``gpu_check.json`` plus the run directories).  ``--device cpu
--scale cpu --budget-s 120`` exercises every code path on a CPU (the numbers are then meaningless).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from implicit_bias.ptb.configs import get_config
from implicit_bias.ptb.model import training_flops
from implicit_bias.ptb.trainer import Trainer, read_metrics
from implicit_bias.report import provenance

#: dense TF32 tensor-core peak of an H200 SXM (NVIDIA datasheet: 989 TFLOP/s *with sparsity*,
#: i.e. 494.5 dense); strict fp32 (no tensor cores) peaks at 67 TFLOP/s.
H200_TF32_DENSE_PEAK = 494.5e12
H200_FP32_PEAK = 67e12


def flops_per_step(cfg, vocab: int, tokens: int) -> float:
    """FLOPs of one full-batch gradient (see ``implicit_bias.ptb.model.training_flops``)."""
    return training_flops(cfg.d_model, cfg.d_ff, cfg.n_layers, vocab, cfg.seq_len, tokens)


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def agreement(device: str, out: Path, steps: int = 3) -> dict:
    """Max relative difference of loss / ||x||_inf / ||x||_2 over ``steps`` steps, GPU vs CPU."""
    base = get_config("cpu", steps=steps, eval_every=steps, checkpoint_every=steps,
                      tensor_log_every=steps, threads=0)
    ref = Trainer(base, show_progress=False)
    ref.run(out / "agree_cpu")
    result = {}
    for name, tf32 in (("strict_fp32", False), ("tf32", True)):
        Trainer(replace(base, device=device, tf32=tf32), show_progress=False).run(out / f"agree_{name}")
        a = read_metrics(out / "agree_cpu" / "metrics.csv")
        b = read_metrics(out / f"agree_{name}" / "metrics.csv")
        result[name] = {k: float(np.max(np.abs(a[k][1:] - b[k][1:]) / np.abs(a[k][1:])))
                        for k in ("loss", "linf", "l2")}
    return result


def step_time(cfg, repeats: int = 3) -> tuple[float, Trainer]:
    """Seconds per full-batch gradient + optimizer step (after one warm-up step)."""
    tr = Trainer(cfg, show_progress=False)
    tr.compute_gradient(1)
    tr.optimizer.step()
    sync(cfg.device)
    t0 = time.perf_counter()
    for k in range(repeats):
        tr.compute_gradient(k + 2)
        tr.optimizer.step()
    sync(cfg.device)
    return (time.perf_counter() - t0) / repeats, tr


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--scale", choices=["paper", "cpu"], default="paper")
    p.add_argument("--budget-s", type=float, default=450.0, help="total seconds for all three parts")
    p.add_argument("--micro-batch", type=int, default=4096, help="chunks per forward pass")
    p.add_argument("--peak-flops", type=float, default=H200_TF32_DENSE_PEAK)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device visible", file=sys.stderr)
        return 2
    report = {"device": args.device, "scale": args.scale,
              "device_name": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"}

    report["agreement"] = agreement(args.device, args.out / "scratch")
    print("agreement (max relative difference, 3 steps, GPU vs CPU):", report["agreement"], flush=True)

    cfg = get_config(args.scale, device=args.device, micro_batch=args.micro_batch,
                     loss_chunk_rows=32768, optimizer="adamw", beta1=0.99, beta2=0.99,
                     weight_decay=1.0, seed=0, eval_every=200, checkpoint_every=100_000,
                     tensor_log_every=50, threads=0)
    seconds, tr = step_time(cfg)
    flop = flops_per_step(cfg, tr.corpus.vocab_size, int(tr.inputs.numel()))
    report["step"] = dict(seconds=seconds, flop_per_step=flop, achieved_flops=flop / seconds,
                          peak_flops=args.peak_flops, fraction_of_peak=flop / seconds / args.peak_flops,
                          peak_note="H200 SXM dense TF32 tensor-core peak (989 TFLOP/s sparse / 2); "
                                    "strict fp32 peak is 67 TFLOP/s",
                          tokens=int(tr.inputs.numel()), micro_batch=args.micro_batch,
                          max_memory_gb=(torch.cuda.max_memory_allocated() / 1e9
                                         if args.device.startswith("cuda") else None))
    del tr
    print(f"{args.scale}-scale step: {seconds:.3f} s, {flop / 1e12:.2f} TFLOP, "
          f"{flop / seconds / 1e12:.1f} TFLOP/s = {flop / seconds / args.peak_flops:.1%} of peak",
          flush=True)

    remaining = args.budget_s - (time.perf_counter() - start)
    # two runs share what is left; 25 % margin for validation, logging and start-up
    steps = max(1, int(0.75 * remaining / 2 / seconds))
    report["runs"] = {}
    for name, extra in (("adamw", dict(optimizer="adamw")),
                        ("adam-l2-sum", dict(optimizer="adam-l2", loss_reduction="sum"))):
        run_cfg = replace(cfg, steps=steps, **extra)
        result = Trainer(run_cfg, show_progress=True).run(args.out / f"{args.scale}_{name}")
        report["runs"][name] = dict(steps=steps, summary=result["summary"], timing=result["timing"])
        s = result["summary"]
        print(f"{name}: {steps} steps, final loss {s['final_loss']:.4f}, final ||x||_inf "
              f"{s['final_linf']:.4f}, wall {result['timing']['wall_time_s']:.0f} s", flush=True)
    for path in (args.out / f"{args.scale}_adamw", args.out / f"{args.scale}_adam-l2-sum"):
        (path / "checkpoint.pt").unlink(missing_ok=True)  # keep only the small result files
    shutil.rmtree(args.out / "scratch", ignore_errors=True)
    report["total_seconds"] = time.perf_counter() - start
    report["provenance"] = provenance({"script": "scripts/gpu_check.py", "args": vars(args)}, 0)
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    ok = all(v <= 1e-4 for v in report["agreement"]["strict_fp32"].values())
    print("strict-fp32 agreement within 1e-4:", ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
