"""The run folder: never overwritten unless asked, cleared for a new run, resumed only when it
can be, its README, and a true description of what it holds."""

from __future__ import annotations

from pathlib import Path

from . import distributed, results
from .configs import TrainConfig


class RunFolderExists(FileExistsError):
    """The output folder already holds a run, and neither resume nor overwrite was asked."""


def prepare_folder(out: Path, resume: bool, overwrite: bool, rank: int, world: int) -> None:
    """Refuse a folder holding a run (unless ``resume`` or ``overwrite``); create it; with
    ``overwrite`` (and no ``resume``) remove the old run's files and figures, nothing else."""
    held = [f for f in results.RUN_FILES if (out / f).exists()]
    if held and not (resume or overwrite):
        raise RunFolderExists(f"{out} already holds a run ({', '.join(held)}): continue it "
                              f"with resume (--resume) or replace it with overwrite "
                              f"(--overwrite)")
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        if overwrite and not resume:  # the old run's files and figures, nothing else
            old = [out / f for f in results.RUN_FILES] + list(out.glob("linf_wd*.png"))
            if results.is_run_readme(out / "README.md"):
                old.append(out / "README.md")
            for path in old:
                path.unlink(missing_ok=True)
    distributed.barrier(world)


#: the :func:`~implicit_bias.ptb.results.folder_state` kinds that ``resume`` cannot continue
CANNOT_RESUME = ("longer", "diverged", "different-config")


def finished_run(out: Path, config: TrainConfig, resume: bool) -> dict | None:
    """With ``resume``: run.json of a complete run (returned as it is), ``ValueError`` for a
    folder that cannot be continued (:data:`CANNOT_RESUME`, decided by
    :func:`~implicit_bias.ptb.results.folder_state`); ``None``: train."""
    if not resume:
        return None  # prepare_folder has refused or cleared a folder holding a run
    state = results.folder_state(out, config)
    if state.kind == "complete":
        return results.read_run_json(out)
    if state.kind in CANNOT_RESUME:
        raise ValueError(f"cannot resume {out}: {state.detail}")
    return None


def write_readme(out: Path, label: str, rank: int) -> None:
    """The README.md on the columns, on rank 0; never over a user's README."""
    readme = out / "README.md"
    if rank == 0 and (not readme.exists() or results.is_run_readme(readme)):
        results.write_readme(out, label)  # never over a user's README


def describe_folder(out: Path, written_status: str, written_step: int,
                    checkpoint_step: int | None) -> str:
    """What the folder holds now, for messages that must be true."""
    ckpt = (f"{out}/checkpoint.pt holds step {checkpoint_step}"
            if checkpoint_step is not None else "no checkpoint was written")
    return (f"{out}/metrics.csv and run.json (status '{written_status}') hold steps "
            f"0..{written_step}; {ckpt}")
