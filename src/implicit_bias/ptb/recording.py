"""Metric recording: the per-step rows of ``metrics.csv``, the second-moment range of
Lemma 4.3, and the ``summary`` of run.json; the per-tensor rows are kept by ``tensor_logs``."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from .. import monitor
from . import evaluation, results
from .configs import TrainConfig
from .results import METRIC_COLUMNS
from .tensor_logs import TensorLog


class Recorder:
    """Per-step rows (loss, norms), per-tensor ℓ∞ norms, and the second-moment range of Lemma 4.3."""

    def __init__(self, names, params, config: TrainConfig):
        self.names, self.params, self.config = list(names), list(params), config
        self.rows: list[dict] = []
        self.tensors = TensorLog(self.names, self.params, config)
        # running max / min over steps of v~ = (sqrt(v) + eps)^2 per coordinate (Lemma 4.3)
        self.v_range = monitor.SecondMomentRange(self.params, config.eps, per_coordinate=True)
        self.v_max, self.v_min = self.v_range.v_max, self.v_range.v_min

    # the per-tensor rows, where they were before they had a class of their own
    tensor_rows = property(lambda self: self.tensors.rows)
    spectral_rows = property(lambda self: self.tensors.spectral_rows)
    matrix_names = property(lambda self: self.tensors.matrix_names)

    @torch.no_grad()
    def norms(self) -> tuple[float, str, float, list[float]]:
        """(‖x‖∞, name of the tensor attaining it, ‖x‖₂, per-tensor ‖·‖∞); NaN propagates."""
        per = torch.tensor(monitor.linf_norms(self.params), dtype=torch.float64)
        l2 = torch.stack([p.detach().double().pow(2).sum() for p in self.params]).sum().sqrt()
        k = int(torch.argmax(per))
        return float(per[k]), self.names[k], float(l2), per.tolist()

    def needs_validation(self, step: int) -> bool:
        """Whether step ``step``'s row gets a validation perplexity."""
        return evaluation.is_validation_step(step, self.config)

    def measure(self, step: int, loss: float) -> tuple[dict, list[float]]:
        """The row of ``step`` (``val_ppl`` still NaN) and the per-tensor norms; nothing is kept yet."""
        linf, arg, l2, per = self.norms()
        return dict(step=step, loss=loss, linf=linf, linf_tensor=arg, l2=l2, val_ppl=math.nan), per

    def keep(self, row: dict, per_tensor: list[float]) -> None:
        """Append a measured (finite) row, and the per-tensor norms when they are due."""
        self.rows.append(row)
        step = row["step"]
        if self.tensors.is_due(step):
            self.tensors.keep(step, per_tensor)

    def spectral_norms(self) -> dict:
        """``{name: sigma_max}`` of every 2-D tensor (float64 singular values)."""
        return self.tensors.spectral_norms()

    def reopen(self) -> None:
        """Undo the extras of a last row recorded as final, so an extended run equals a longer one."""
        if not self.rows:
            return
        step = self.rows[-1]["step"]
        if step % self.config.eval_every:
            self.rows[-1]["val_ppl"] = math.nan
        self.tensors.reopen(step)

    def track_second_moment(self, optimizer) -> None:
        """Fold the optimizer's second moments into the running range (:class:`~implicit_bias.monitor.SecondMomentRange`)."""
        self.v_range.update(optimizer)

    def log_v_ratio(self) -> float:
        r"""max over coordinates of :math:`\ln(V_t / v^{\min}_t)` (Lemma 4.3), coordinates with v>0 only."""
        return self.v_range.log_range()

    def summary(self, **extra) -> dict:
        """The ``summary`` of run.json over the kept rows, with ``extra`` facts appended."""
        cfg = self.config
        linf = [r["linf"] for r in self.rows]
        half = [r["linf"] for r in self.rows if r["step"] >= cfg.steps / 2] or linf[-1:]
        losses = [r["loss"] for r in self.rows if r["step"] > 0]
        vals = [r["val_ppl"] for r in self.rows if not math.isnan(r["val_ppl"])]
        return dict(steps_done=self.rows[-1]["step"], initial_linf=linf[0], final_linf=linf[-1],
                    max_linf=max(linf), max_linf_second_half=max(half),
                    final_linf_tensor=self.rows[-1]["linf_tensor"], final_l2=self.rows[-1]["l2"],
                    final_loss=losses[-1] if losses else math.nan,
                    final_val_ppl=vals[-1] if vals else math.nan,
                    log_v_ratio=self.log_v_ratio(), **extra)

    def state(self) -> dict:
        """The rows and the second-moment range, for the checkpoint."""
        return dict(rows=self.rows, tensor_rows=self.tensors.rows, v_max=self.v_max,
                    v_min=self.v_min, spectral_rows=self.tensors.spectral_rows)

    def load_state(self, state: dict) -> None:
        """Continue from a checkpoint's :meth:`state`."""
        self.rows = state["rows"]
        self.tensors.load_state(state)
        for dst, src in zip(self.v_max + self.v_min, state["v_max"] + state["v_min"]):
            dst.copy_(src)

    def write(self, out: Path) -> None:
        """metrics.csv and tensor_linf.csv of the kept rows."""
        results.write_csv(out / "metrics.csv", METRIC_COLUMNS, self.rows)
        self.tensors.write(out)
