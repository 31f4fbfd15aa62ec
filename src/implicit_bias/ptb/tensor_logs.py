"""Per-tensor logs: ‖·‖∞ of every tensor (``tensor_linf.csv``) and, for the optimizers whose
constraint is spectral, σ_max of every 2-D tensor (``tensor_spectral.csv``)."""

from __future__ import annotations

from pathlib import Path

import torch

from .. import monitor
from . import results
from .configs import TrainConfig

#: optimizers whose runs also record the spectral norm of every 2-D tensor
SPECTRAL_LOGGED = ("lion", "muon")


class TensorLog:
    """The per-tensor rows, one every ``tensor_log_every`` steps and at the last step."""

    def __init__(self, names, params, config: TrainConfig):
        self.names, self.params, self.config = list(names), list(params), config
        self.rows: list[dict] = []
        # spectral norms of the 2-D tensors, for the optimizers whose constraint is spectral
        self.matrix_names = ([n for n, p in zip(self.names, self.params) if p.ndim == 2]
                             if config.optimizer in SPECTRAL_LOGGED else [])
        self.spectral_rows: list[dict] = []

    def is_due(self, step: int) -> bool:
        """Whether step ``step`` gets per-tensor rows."""
        return step % self.config.tensor_log_every == 0 or step == self.config.steps

    def keep(self, step: int, per_tensor: list[float]) -> None:
        """Append the row of ``step`` (the per-tensor ‖·‖∞), and its spectral row if logged."""
        self.rows.append(dict(step=step, **dict(zip(self.names, per_tensor))))
        if self.matrix_names:
            self.spectral_rows.append(dict(step=step, **self.spectral_norms()))

    @torch.no_grad()
    def spectral_norms(self) -> dict:
        """``{name: sigma_max}`` of every 2-D tensor (float64 singular values)."""
        named = dict(zip(self.names, self.params))
        return {n: monitor.spectral_norm(named[n]) for n in self.matrix_names}

    def reopen(self, step: int) -> None:
        """Drop the rows of a last step ``step`` kept only because it was the final one."""
        if step % self.config.tensor_log_every and self.rows and self.rows[-1]["step"] == step:
            self.rows.pop()
            if self.spectral_rows and self.spectral_rows[-1]["step"] == step:
                self.spectral_rows.pop()

    def load_state(self, state: dict) -> None:
        """The rows of a checkpoint's state (see ``Recorder.state``)."""
        self.rows = state["tensor_rows"]
        self.spectral_rows = state.get("spectral_rows", [])

    def write(self, out: Path) -> None:
        """tensor_linf.csv (and tensor_spectral.csv when logged) of the kept rows."""
        results.write_csv(out / "tensor_linf.csv", ["step"] + self.names, self.rows)
        if self.matrix_names:
            results.write_csv(out / "tensor_spectral.csv", ["step"] + self.matrix_names,
                              self.spectral_rows)
