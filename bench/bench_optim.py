"""Benchmark: one step of ``implicit_bias.optim.AdamW`` (and Lion) vs ``torch.optim.AdamW(foreach=True)``.

Only the optimizer step is timed: every parameter gets a fixed synthetic gradient once, and the
step is then called repeatedly.  The two optimizers act on two identical copies of the model and are
timed *interleaved* (ours, torch, ours, torch, ...) so that machine load affects both alike; the
reported figure is the median over repeats of the per-repeat ratio ours/torch (target <= 1.1).

Run:  ``python bench/bench_optim.py``  (under a minute on one CPU thread); writes
``bench/results/optim.json`` with provenance and prints a table.  ``--only Lion`` runs the
comparisons whose name contains ``Lion`` and writes ``bench/results/optim.local.json`` instead
(ignored by git), so a partial run never replaces the committed full one.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import torch

from implicit_bias import optim, report

SEED = 0
RESULTS = Path(__file__).resolve().parent / "results" / "optim.json"


def make_model(width: int, depth: int) -> torch.nn.Module:
    """A stack of ``depth`` square Linear layers: about ``depth * width**2`` parameters."""
    layers = [torch.nn.Linear(width, width) for _ in range(depth)]
    return torch.nn.Sequential(*layers)


def attach_fixed_gradients(model: torch.nn.Module, generator: torch.Generator) -> None:
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=generator)


def time_steps(optimizer: torch.optim.Optimizer, steps: int) -> float:
    """Seconds per step, averaged over ``steps`` consecutive steps."""
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    return (time.perf_counter() - start) / steps


def compare(make_ours, make_ref, base: torch.nn.Module, repeats: int, steps: int) -> dict:
    """Interleaved timing of two optimizers on two copies of ``base`` (gradients included)."""
    ours_model, ref_model = copy.deepcopy(base), copy.deepcopy(base)
    for p_ours, p_ref, p in zip(ours_model.parameters(), ref_model.parameters(), base.parameters()):
        p_ours.grad, p_ref.grad = p.grad.clone(), p.grad.clone()
    ours, ref = make_ours(ours_model.parameters()), make_ref(ref_model.parameters())
    time_steps(ours, 3), time_steps(ref, 3)  # warm-up: state allocation, kernel caches
    t_ours, t_ref = [], []
    for _ in range(repeats):
        t_ours.append(time_steps(ours, steps))
        t_ref.append(time_steps(ref, steps))
    ratios = [a / b for a, b in zip(t_ours, t_ref)]
    return {"ours_ms": 1e3 * statistics.median(t_ours), "ref_ms": 1e3 * statistics.median(t_ref),
            "median_ratio": statistics.median(ratios), "min_ratio": min(ratios),
            "max_ratio": max(ratios)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", default=None,
                        help="run only the comparisons whose name contains this text")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    base = make_model(args.width, args.depth)
    attach_fixed_gradients(base, torch.Generator().manual_seed(SEED))
    n_params = sum(p.numel() for p in base.parameters())
    hp = dict(lr=1e-3, betas=(0.9, 0.999), weight_decay=0.1)

    cases = {
        # equal work: PyTorch semantics on both sides
        "AdamW(bias_correction=True, eps=1e-8) vs torch AdamW": (
            lambda ps: optim.AdamW(ps, eps=1e-8, bias_correction=True, **hp),
            lambda ps: torch.optim.AdamW(ps, eps=1e-8, foreach=True, **hp)),
        # the paper's Algorithm 1 (eps = 0, 0/0 := 0, no bias correction)
        "AdamW(paper: eps=0, no bias corr.) vs torch AdamW": (
            lambda ps: optim.AdamW(ps, eps=0.0, **hp),
            lambda ps: torch.optim.AdamW(ps, eps=1e-8, foreach=True, **hp)),
        "AdamL2(bias_correction=True) vs torch Adam(weight_decay)": (
            lambda ps: optim.AdamL2(ps, eps=1e-8, bias_correction=True, **hp),
            lambda ps: torch.optim.Adam(ps, eps=1e-8, foreach=True, **hp)),
        # Lion (one moment, a sign) against torch's foreach AdamW: target <= 1 ("no slower")
        "Lion vs torch AdamW": (
            lambda ps: optim.Lion(ps, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1),
            lambda ps: torch.optim.AdamW(ps, eps=1e-8, foreach=True, **hp)),
        "NormalizedSteepestDescent(linf) vs torch AdamW (info)": (
            lambda ps: optim.NormalizedSteepestDescent(ps, lr=1e-3, norm="linf", weight_decay=0.1),
            lambda ps: torch.optim.AdamW(ps, eps=1e-8, foreach=True, **hp)),
        "NormalizedSteepestDescent(l2) vs torch AdamW (info)": (
            lambda ps: optim.NormalizedSteepestDescent(ps, lr=1e-3, norm="l2", weight_decay=0.1),
            lambda ps: torch.optim.AdamW(ps, eps=1e-8, foreach=True, **hp)),
    }
    if args.only:
        cases = {name: pair for name, pair in cases.items() if args.only in name}
    results = {name: compare(mk_ours, mk_ref, base, args.repeats, args.steps)
               for name, (mk_ours, mk_ref) in cases.items()}

    config = dict(vars(args), n_params=n_params, hyperparameters=hp, target_ratio=1.1)
    out = RESULTS.with_suffix(".local.json") if args.only else RESULTS
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"provenance": report.provenance(config, SEED),
                                   "results": results}, indent=2) + "\n")
    print(f"{n_params / 1e6:.2f}M parameters, {args.threads} thread(s), median of {args.repeats} "
          f"interleaved repeats x {args.steps} steps")
    print(f"{'comparison':58s} {'ours ms':>8s} {'ref ms':>8s} {'ratio':>6s} {'range':>13s}")
    for name, r in results.items():
        print(f"{name:58s} {r['ours_ms']:8.2f} {r['ref_ms']:8.2f} {r['median_ratio']:6.3f} "
              f"{r['min_ratio']:6.3f}-{r['max_ratio']:.3f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
