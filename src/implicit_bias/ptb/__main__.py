"""Command line of the PTB experiment (chapter ``ch-ptb``).

Examples::

    python -m implicit_bias.ptb run --config cpu --optimizer adamw --beta1 0.99 --beta2 0.99 \\
        --weight-decay 1 --seed 0 --out runs/cpu/adamw
    python -m implicit_bias.ptb sweep --config cpu --out runs/cpu
    python -m implicit_bias.ptb plot runs/cpu
    torchrun --nproc_per_node 8 -m implicit_bias.ptb run --config paper --device cuda ...

Exit codes: 0 done (or nothing to do), 2 a usage error or a refusal (one line on stderr, checked
before any data is read: settings, device, output folder, data folder), 3 the run diverged
(files kept up to the last finite step), 130 interrupted by Ctrl-C (a checkpoint is written and
the line says how to resume), 1 an unexpected failure of the system (a full disk, ...).
A folder that already holds a run is never overwritten unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from dataclasses import fields, replace
from pathlib import Path

from . import results
from .configs import CONFIGS, LOSS_REDUCTIONS, OPTIMIZERS, TrainConfig, get_config, sweep_configs

PROG = "python -m implicit_bias.ptb"
EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 3, 130


class _Parser(argparse.ArgumentParser):
    """argparse, with errors on one line (the usage is one ``--help`` away)."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Refusal(Exception):
    """A predictable mistake found before any work: printed as one line, exit code 2."""


def _shard(text):
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must look like K/N, got {text!r}") from None
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"--shard {text}: need 0 <= K < N")
    return k, n


def _add_common(p: argparse.ArgumentParser) -> None:
    # value checks live in TrainConfig.validate, reported through parser.error (see _config)
    p.add_argument("--config", required=True, choices=sorted(CONFIGS),
                   help="preset: 'cpu' (scaled, runs in the book), 'cpu-wide' (the paper's model on "
                        "the cpu data) or 'paper' (§5.1)")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--data-dir", default=None, help="PTB directory (default: $PTB_DIR, cache, download)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: the preset's)")
    p.add_argument("--micro-batch", type=int, default=None,
                   help="chunks per forward pass (memory only; the step is the full-batch step)")
    p.add_argument("--loss-chunk-rows", type=int, default=None,
                   help="rows per chunk of the fused output layer + loss (speed and memory only; "
                        "small chunks stay in cache on a CPU, large ones fill a GPU)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (0: torch default)")
    p.add_argument("--strict-fp32", action="store_true",
                   help="no TF32 matrix products on CUDA (default: TF32, parameters stay fp32)")
    p.add_argument("--steps", type=int, default=None, help="override the step count")
    p.add_argument("--batch-fraction", type=float, default=1.0,
                   help="fraction of the chunks per step (0.5: the Figure 2 variant)")
    p.add_argument("--no-progress", action="store_true", help="hide the tqdm bar")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Full-batch PTB experiments of Xie & Li (2024), §5.1")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="one training run")
    _add_common(run)
    run.add_argument("--optimizer", required=True, choices=OPTIMIZERS)
    run.add_argument("--loss-reduction", choices=LOSS_REDUCTIONS, default="mean")
    run.add_argument("--beta1", type=float, required=True)
    run.add_argument("--beta2", type=float, required=True)
    run.add_argument("--weight-decay", type=float, required=True,
                     help="lambda (ignored by --optimizer adam); AdamW, Lion and Muon need lr * lambda <= 1")
    run.add_argument("--lr", type=float, default=None, help="eta (default: the preset's)")
    run.add_argument("--eps", type=float, default=None, help="epsilon (default 0)")
    run.add_argument("--bias-correction", action="store_true",
                     help="divide the moments by 1 - beta^t as torch.optim.AdamW does")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--rotation-seed", type=int, default=None,
                     help="train every weight matrix in a fixed random orthogonal basis drawn "
                          "from this seed (default: the network's own coordinates)")
    again = run.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in OUT (a complete run is left as it is)")
    again.add_argument("--overwrite", action="store_true", help="replace the run in OUT")

    sweep = sub.add_parser("sweep", help="all runs of the figures (skips complete runs, resumes "
                                         "or redoes the others)")
    _add_common(sweep)
    sweep.add_argument("--seeds", type=int, nargs="+", default=None)
    sweep.add_argument("--shard", type=_shard, default=(0, 1),
                       help="K/N: run every N-th setting starting at K (one process per GPU)")

    plot = sub.add_parser("plot", help="figures from saved results")
    plot.add_argument("dirs", nargs="+", type=Path, help="run folders or sweep folders")
    plot.add_argument("--out", type=Path, default=None,
                      help="where to write the PNGs (default: the one folder given)")
    for name, command in (("run", run), ("sweep", sweep), ("plot", plot)):
        command.set_defaults(parser=command)  # errors found after parsing name the subcommand
    return parser


# ---------- checks made before any data is read ----------
def _overrides(args) -> dict:
    pairs = {"device": args.device, "micro_batch": args.micro_batch, "threads": args.threads,
             "steps": args.steps, "loss_chunk_rows": args.loss_chunk_rows}
    out = {k: v for k, v in pairs.items() if v is not None}
    out["batch_fraction"] = args.batch_fraction
    if args.strict_fp32:
        out["tf32"] = False
    return out


def _config_error(parser, err: ValueError):
    """``parser.error`` with TrainConfig's field name spelled as the option (``--weight-decay``)."""
    message = str(err)
    for f in fields(TrainConfig):
        if message.startswith(f.name + "="):
            message = "--" + f.name.replace("_", "-") + message[len(f.name):]
            break
    parser.error(message)


def _check_device(config: TrainConfig) -> None:
    if not config.device.startswith("cuda"):
        return
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(config.device.partition(":")[2] or 0)
    if index >= count:
        raise _Refusal(f"--device {config.device}: this machine has "
                       f"{'no CUDA device' if not count else f'{count} CUDA device(s)'} (torch "
                       f"{torch.__version__}); use --device cpu")


def _check_out(out: Path) -> None:
    """``out`` must be (or be creatable as) a writable folder: test it by writing a probe file."""
    if out.exists() and not out.is_dir():
        raise _Refusal(f"--out {out} is a file, not a folder")
    existing = out
    while not existing.exists():  # nothing is created here: probe the nearest existing folder
        existing = existing.parent
    if not existing.is_dir():
        raise _Refusal(f"--out {out}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise _Refusal(f"--out {out} is not writable: cannot create files in {existing} "
                       f"({err.strerror or err})") from None


def _check_data(data_dir) -> None:
    from .data import PTBDataError, resolve_data_dir

    try:
        resolve_data_dir(data_dir)
    except PTBDataError as err:
        raise _Refusal(str(err)) from None


def _check_folder(config: TrainConfig, out: Path, args) -> bool:
    """Whether to train into ``out``; ``False``: the run is already complete (nothing to do).

    Decided from :func:`.results.folder_state`, as the trainer and the sweep decide."""
    state = results.folder_state(out, config)
    if state.kind == "empty" or args.overwrite:
        return True
    if not args.resume:
        how = ("--resume continues only the same settings: replace it with --overwrite"
               if state.kind in ("different-config", "diverged")
               else "continue it with --resume, or replace it with --overwrite")
        detail = f": {state.detail}" if state.detail else ""
        raise _Refusal(f"{out} already holds a run{detail}; {how}, or choose another --out")
    if state.kind == "complete":
        print(f"{out}: {config.label()} is already complete ({state.steps_done} steps); "
              f"nothing to do")
        return False
    if state.kind == "diverged":
        raise _Refusal(f"cannot --resume {out}: {state.detail} and would diverge again; start "
                       f"a new run with a lower --lr (or replace this one with --overwrite)")
    if state.kind in ("different-config", "longer"):
        raise _Refusal(f"cannot --resume {out}: {state.detail}; choose another --out, or "
                       f"replace it with --overwrite")
    return True


def _command(argv, drop=(), add=(), set_options=None) -> str:
    """``argv`` as a shell command line, without ``drop`` flags, with ``set_options`` replaced."""
    set_options = set_options or {}
    words, skip = [], False
    for word in argv:
        if skip:
            skip = False
            continue
        name = word.split("=", 1)[0]
        if name in drop:
            continue
        if name in set_options:
            skip = "=" not in word
            continue
        words.append(word)
    for name, value in set_options.items():
        words += [name, str(value)]
    return " ".join([PROG] + [shlex.quote(w) for w in words + list(add)])


# ---------- the commands ----------
def _run_config(args, parser) -> TrainConfig:
    extra = dict(optimizer=args.optimizer, loss_reduction=args.loss_reduction, beta1=args.beta1,
                 beta2=args.beta2, weight_decay=args.weight_decay, seed=args.seed,
                 bias_correction=args.bias_correction, rotation_seed=args.rotation_seed)
    if args.lr is not None:
        extra["lr"] = args.lr
    if args.eps is not None:
        extra["eps"] = args.eps
    try:
        return get_config(args.config, **_overrides(args), **extra)
    except ValueError as err:
        _config_error(parser, err)


def _run(args, parser, argv) -> int:
    config = _run_config(args, parser)
    _check_device(config)
    _check_out(args.out)
    if not _check_folder(config, args.out, args):
        return 0
    _check_data(args.data_dir)
    from .trainer import DivergedError, RunInterrupted, Trainer

    try:
        result = Trainer(config, data_dir=args.data_dir, show_progress=not args.no_progress).run(
            args.out, resume=args.resume, overwrite=args.overwrite)
    except DivergedError as err:
        lower = config.lr / 10
        retry = _command(argv, drop=("--resume", "--overwrite"),
                         set_options={"--lr": f"{lower:g}", "--out": f"{args.out}-lr{lower:g}"})
        print(f"{PROG} run: error: {err}. To try a lower learning rate: {retry}", file=sys.stderr)
        return EXIT_DIVERGED
    except RunInterrupted as err:
        resume = _command(argv, drop=("--resume", "--overwrite"), add=("--resume",))
        print(f"{err}. Continue with: {resume}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ValueError as err:  # a checkpoint made with other settings (folders without run.json)
        raise _Refusal(str(err)) from None
    if int(os.environ.get("RANK", "0")) == 0:
        s, timing = result["summary"], result["timing"]
        print(f"{config.label()}: final loss {s['final_loss']:.4f}, final ||x||_inf "
              f"{s['final_linf']:.4f} ({s['final_linf_tensor']}), max over 2nd half "
              f"{s['max_linf_second_half']:.4f}, wall {timing['wall_time_s']:.1f} s -> {args.out}")
    return 0


def _sweep_configs(args, parser) -> list[TrainConfig]:
    try:
        configs = sweep_configs(args.config, seeds=args.seeds, batch_fraction=args.batch_fraction)
        return [replace(c, **_overrides(args)).validate() for c in configs]
    except ValueError as err:
        _config_error(parser, err)


def _sweep(args, parser, argv) -> int:
    configs = _sweep_configs(args, parser)
    for config in configs[:1]:
        _check_device(config)
    _check_out(args.out)
    _check_data(args.data_dir)
    k, n = args.shard
    counts = dict(new=0, resumed=0, complete=0, diverged=0, untouched=0)
    for i, config in enumerate(configs):
        if i % n == k:
            head = f"[{i + 1}/{len(configs)}] {config.label()}"
            outcome, text = _sweep_one(config, args.out / config.label(), args)
            if outcome == "interrupted":
                print(f"{head}: {text}. Run the same sweep command again to continue:\n"
                      f"{_command(argv)}", file=sys.stderr)
                return EXIT_INTERRUPTED
            counts[outcome] += 1
            print(f"{head}: {text}", flush=True)
    print("sweep: " + ", ".join(f"{v} {k}" for k, v in counts.items()), flush=True)
    return EXIT_DIVERGED if counts["diverged"] else EXIT_USAGE if counts["untouched"] else 0


def _sweep_one(config: TrainConfig, out: Path, args) -> tuple[str, str]:
    """(outcome, one line): new, resumed, complete, diverged, untouched or interrupted.

    Complete runs are skipped; diverged runs are not retried (they would diverge again);
    folders holding other settings or more steps are left alone; everything else is resumed
    from its checkpoint, or redone when there is none.
    """
    from .trainer import DivergedError, RunInterrupted, Trainer

    state = results.folder_state(out, config)
    if state.kind == "complete":
        return "complete", f"{state.detail}, skipped"
    if state.kind == "diverged":
        return "diverged", f"{state.detail}, not retried (it would diverge again)"
    if state.kind in ("different-config", "longer", "unreadable", "not-a-run"):
        return "untouched", f"{state.detail}; not touched: move it or use another --out"
    trainer = Trainer(config, data_dir=args.data_dir, show_progress=not args.no_progress)
    try:
        result = trainer.run(out, resume=True)
    except DivergedError as err:
        return "diverged", str(err)
    except RunInterrupted as err:
        return "interrupted", str(err)
    except ValueError as err:  # an old checkpoint made with other settings
        return "untouched", f"not touched: {err}"
    s, start = result["summary"], trainer.start_step
    how = "new" if start == 0 else "resumed"
    return how, (f"{'new' if start == 0 else f'resumed from step {start}'}, final ||x||_inf "
                 f"{s['final_linf']:.4f}, loss {s['final_loss']:.4f}, "
                 f"{result['timing']['wall_time_s']:.1f} s")


def _plot(args, parser, argv) -> int:
    if len(args.dirs) > 1 and args.out is None:
        parent = os.path.commonpath([str(d) for d in args.dirs]) or "."
        parser.error(f"{len(args.dirs)} folders given: say where the figures go with --out "
                     f"(for example --out {parent})")
    runs = results.load_runs(args.dirs)
    for r in runs:
        if not r.complete:
            print(f"note: {r.dir} is {r.status} at step {r.summary.steps_done} of "
                  f"{r.config.steps}; plotted as far as it got", file=sys.stderr)
    out = args.out or args.dirs[0]
    _check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed (a choice of the program, not the library)
    from .analysis import plot_linf

    written = plot_linf(runs, out)
    for path in written:
        print(path)
    if not written:
        print(f"no figure: the {len(runs)} run(s) have no weight decay to draw 1/λ for",
              file=sys.stderr)
    return 0


def main(argv=None) -> int:
    """Entry point of ``python -m implicit_bias.ptb`` and of the ``implicit-bias-ptb`` script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "plot":
        # pin the provenance to the code this process imports now, before any run starts
        from ..report import git_commit, source_hash
        source_hash(), git_commit()
    command = {"run": _run, "sweep": _sweep, "plot": _plot}[args.command]
    try:
        return command(args, args.parser, argv)
    except (_Refusal, results.ResultsError) as err:
        print(f"{PROG} {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C outside a training loop (which handles its own)
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as err:  # the system failed us mid-run (full disk, ...): say what, no traceback
        print(f"{PROG} {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
