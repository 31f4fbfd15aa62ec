"""Checkpoints and resume: what ``checkpoint.pt`` holds (model, optimizer, random state, step,
rows, elapsed time), how it is written and read back, and the random state of a run."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from .configs import TrainConfig, config_differences


def checkpoint_path(out) -> Path:
    """Where the checkpoint of the run in folder ``out`` lives."""
    return Path(out) / "checkpoint.pt"


# ---------- random state ----------
def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """The state of every generator :func:`seed_everything` seeds (and CUDA's)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore :func:`rng_state`'s ``state``."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------- the checkpoint ----------
def training_state(config: TrainConfig, step: int, model, optimizer, elapsed: dict,
                   recorder) -> dict:
    """What a checkpoint holds: everything a resumed run needs to continue identically."""
    return dict(config=config.to_dict(), step=step,
                model=model.state_dict(), optimizer=optimizer.state_dict(),
                rng=rng_state(), elapsed=elapsed, **recorder.state())


def restore(state: dict, model, optimizer, recorder) -> tuple[int, dict]:
    """Load :func:`training_state`'s ``state``; return its step and its sessions' elapsed time."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    recorder.load_state(state)
    elapsed = state.get("elapsed", dict(wall=0.0, cpu=0.0, sessions=1))
    set_rng_state(state["rng"])
    return state["step"], elapsed


def save_checkpoint(path, state: dict) -> None:
    """``torch.save`` to a temporary file, then rename: a kill never leaves half a checkpoint."""
    path = Path(path)
    tmp = path.with_suffix(".pt.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, device, config: TrainConfig) -> dict:
    """The state saved in ``path``; ``ValueError`` if it was made with other settings."""
    state = torch.load(path, map_location=device, weights_only=False)
    diff = config_differences(state["config"], config.to_dict())
    if diff:
        raise ValueError(f"cannot resume {Path(path).parent}: configuration differs "
                         f"(saved, now): {diff}")
    return state
