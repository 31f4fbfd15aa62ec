"""Command line of the PTB experiment (chapter ``ch-ptb``).

Examples::

    python -m implicit_bias.ptb run --config cpu --optimizer adamw --beta1 0.99 --beta2 0.99 \\
        --weight-decay 1 --seed 0 --out runs/cpu/adamw
    python -m implicit_bias.ptb sweep --config cpu --out runs/cpu
    python -m implicit_bias.ptb plot runs/cpu
    torchrun --nproc_per_node 8 -m implicit_bias.ptb run --config paper --device cuda ...

Bad values are rejected (exit code 2) before any data is read.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import replace
from pathlib import Path

from .configs import CONFIGS, get_config, sweep_configs
from .trainer import LOSS_REDUCTIONS, OPTIMIZERS, NonFiniteLossError


def _unit_interval(name):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not 0.0 <= value < 1.0:
            raise argparse.ArgumentTypeError(f"{name}={value:g} is outside [0, 1)")
        return value
    return parse


def _nonnegative(name):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not (0.0 <= value < math.inf):
            raise argparse.ArgumentTypeError(f"{name}={value:g} must be finite and >= 0")
        return value
    return parse


def _positive_int(name):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name}={value} must be >= 1")
        return value
    return parse


def _fraction(text):
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"batch fraction {value:g} must be in (0, 1]")
    return value


def _shard(text):
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must look like K/N, got {text!r}") from None
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"--shard {text}: need 0 <= K < N")
    return k, n


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, choices=sorted(CONFIGS),
                   help="preset: 'cpu' (scaled, runs in the book) or 'paper' (§5.1)")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--data-dir", default=None, help="PTB directory (default: $PTB_DIR, cache, download)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: the preset's)")
    p.add_argument("--micro-batch", type=_positive_int("micro-batch"), default=None,
                   help="chunks per forward pass (memory only; the step is the full-batch step)")
    p.add_argument("--loss-chunk-rows", type=_positive_int("loss-chunk-rows"), default=None,
                   help="rows per chunk of the fused output layer + loss (speed and memory only; "
                        "small chunks stay in cache on a CPU, large ones fill a GPU)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (0: torch default)")
    p.add_argument("--strict-fp32", action="store_true",
                   help="no TF32 matrix products on CUDA (default: TF32, parameters stay fp32)")
    p.add_argument("--steps", type=_positive_int("steps"), default=None, help="override the step count")
    p.add_argument("--batch-fraction", type=_fraction, default=1.0,
                   help="fraction of the chunks per step (0.5: the Figure 2 variant)")
    p.add_argument("--no-progress", action="store_true", help="hide the tqdm bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m implicit_bias.ptb",
                                     description="Full-batch PTB experiments of Xie & Li (2024), §5.1")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="one training run")
    _add_common(run)
    run.add_argument("--optimizer", required=True, choices=OPTIMIZERS)
    run.add_argument("--loss-reduction", choices=LOSS_REDUCTIONS, default="mean")
    run.add_argument("--beta1", type=_unit_interval("beta1"), required=True)
    run.add_argument("--beta2", type=_unit_interval("beta2"), required=True)
    run.add_argument("--weight-decay", type=_nonnegative("weight-decay"), required=True,
                     help="lambda (ignored by --optimizer adam)")
    run.add_argument("--lr", type=_nonnegative("lr"), default=None, help="eta (default: the preset's)")
    run.add_argument("--eps", type=_nonnegative("eps"), default=None, help="epsilon (default 0)")
    run.add_argument("--bias-correction", action="store_true",
                     help="divide the moments by 1 - beta^t as torch.optim.AdamW does")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")

    sweep = sub.add_parser("sweep", help="all runs of the figures (skips finished runs, resumes others)")
    _add_common(sweep)
    sweep.add_argument("--seeds", type=int, nargs="+", default=None)
    sweep.add_argument("--shard", type=_shard, default=(0, 1),
                       help="K/N: run every N-th setting starting at K (one process per GPU)")

    plot = sub.add_parser("plot", help="figures from saved results")
    plot.add_argument("dirs", nargs="+", type=Path, help="run directories or sweep directories")
    plot.add_argument("--out", type=Path, default=None, help="where to write the PNGs")
    return parser


def _overrides(args) -> dict:
    pairs = {"device": args.device, "micro_batch": args.micro_batch, "threads": args.threads,
             "steps": args.steps, "loss_chunk_rows": args.loss_chunk_rows}
    out = {k: v for k, v in pairs.items() if v is not None}
    out["batch_fraction"] = args.batch_fraction
    if args.strict_fp32:
        out["tf32"] = False
    return out


def _run(args) -> int:
    from .trainer import Trainer

    extra = dict(optimizer=args.optimizer, loss_reduction=args.loss_reduction, beta1=args.beta1,
                 beta2=args.beta2, weight_decay=args.weight_decay, seed=args.seed,
                 bias_correction=args.bias_correction)
    if args.lr is not None:
        extra["lr"] = args.lr
    if args.eps is not None:
        extra["eps"] = args.eps
    config = get_config(args.config, **_overrides(args), **extra)
    result = Trainer(config, data_dir=args.data_dir,
                     show_progress=not args.no_progress).run(args.out, resume=args.resume)
    if int(os.environ.get("RANK", "0")) == 0:
        s = result["summary"]
        print(f"{config.label()}: final loss {s['final_loss']:.4f}, final ||x||_inf "
              f"{s['final_linf']:.4f} ({s['final_linf_tensor']}), max over 2nd half "
              f"{s['max_linf_second_half']:.4f}, wall {result['timing']['wall_time_s']:.1f} s "
              f"-> {args.out}")
    return 0


def _sweep(args) -> int:
    from .trainer import Trainer

    configs = sweep_configs(args.config, seeds=args.seeds, batch_fraction=args.batch_fraction)
    k, n = args.shard
    for i, config in enumerate(configs):
        if i % n != k:
            continue
        config = replace(config, **_overrides(args)).validate()
        out = args.out / config.label()
        if (out / "run.json").is_file():
            print(f"[{i + 1}/{len(configs)}] {config.label()}: done, skipped")
            continue
        result = Trainer(config, data_dir=args.data_dir,
                         show_progress=not args.no_progress).run(out, resume=True)
        s = result["summary"]
        print(f"[{i + 1}/{len(configs)}] {config.label()}: final ||x||_inf {s['final_linf']:.4f}, "
              f"loss {s['final_loss']:.4f}, {result['timing']['wall_time_s']:.1f} s", flush=True)
    return 0


def _plot(args) -> int:
    from .analysis import load_runs, plot_linf

    runs = load_runs(args.dirs)
    if not runs:
        print("no run.json found under " + " ".join(map(str, args.dirs)), file=sys.stderr)
        return 1
    out = args.out or args.dirs[0]
    out.mkdir(parents=True, exist_ok=True)
    for path in plot_linf(runs, out):
        print(path)
    return 0


def main(argv=None) -> int:
    """Entry point of ``python -m implicit_bias.ptb`` and of the ``implicit-bias-ptb`` script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "sweep":
            return _sweep(args)
        return _plot(args)
    except NonFiniteLossError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
