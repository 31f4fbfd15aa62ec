"""Evaluation: the validation perplexity, and the steps at which it is measured."""

from __future__ import annotations

import math

import torch

from .configs import TrainConfig


def is_validation_step(step: int, config: TrainConfig) -> bool:
    """Every ``eval_every`` steps, and at the last step (never at x_0)."""
    return step > 0 and (step % config.eval_every == 0 or step == config.steps)


@torch.no_grad()
def validation_perplexity(model, inputs, targets, config: TrainConfig) -> float:
    """exp(mean CE) over the validation chunks; ``inf`` when it overflows a float."""
    total, count = 0.0, 0
    for start in range(0, inputs.shape[0], config.micro_batch):
        x = inputs[start: start + config.micro_batch]
        y = targets[start: start + config.micro_batch]
        total += float(model.loss_sum(x, y, config.loss_chunk_rows))
        count += y.numel()
    if not count:
        return math.nan
    try:
        return math.exp(total / count)
    except OverflowError:  # mean CE above ~709: a diverged model, reported as such
        return math.inf
