"""Divergence: the non-finite values that stop a run, and the error that reports them.

Each check returns the reason a value stops the run, or ``None`` when it is finite; the
trainer writes the files up to the last finite step and raises :class:`DivergedError`.
"""

from __future__ import annotations

import math


class DivergedError(RuntimeError):
    """A non-finite value stopped the run; ``step``, ``reason``, ``checkpoint_step`` say where.

    The run folder holds metrics.csv and run.json (status ``diverged``) up to the last
    finite step, and the last checkpoint written before, if any.
    """

    def __init__(self, message, step: int, reason: str, checkpoint_step: int | None):
        super().__init__(message)
        self.step, self.reason, self.checkpoint_step = step, reason, checkpoint_step


NonFiniteLossError = DivergedError  # the former name


def loss_problem(loss: float, t: int) -> str | None:
    """Why the training loss of step ``t`` (at x_{t-1}) stops the run, if it does."""
    if math.isfinite(loss):
        return None
    return f"the training loss at x_{t - 1} is {loss} (the step was not applied)"


def parameter_problem(row: dict, t: int) -> str | None:
    """Why the parameters after step ``t`` (the row's ``linf``, ``l2``) stop the run, if they do."""
    if math.isfinite(row["linf"]) and math.isfinite(row["l2"]):
        return None
    return f"the parameters are not finite after step {t}"


def validation_problem(row: dict, t: int) -> str | None:
    """Why the validation perplexity at x_t (the row's ``val_ppl``) stops the run, if it does."""
    if math.isfinite(row["val_ppl"]):
        return None
    return (f"the validation perplexity at x_{t} is {row['val_ppl']} "
            f"(mean cross-entropy above 709 overflows exp)")


def divergence_message(label: str, t: int, reason: str, where: str) -> str:
    """The message of the :class:`DivergedError` of run ``label`` at step ``t``."""
    return f"{label} diverged at step {t}: {reason}. {where}"
