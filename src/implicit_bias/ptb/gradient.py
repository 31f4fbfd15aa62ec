"""The full-batch gradient: the step's chunks, accumulated over micro-batches and ranks."""

from __future__ import annotations

import torch

from . import distributed, evaluation
from .configs import TrainConfig


class FullBatchGradient:
    """The exact gradient of the step's objective, over micro-batches, chunks and ranks."""

    def __init__(self, model, inputs, targets, valid_inputs, valid_targets, config: TrainConfig,
                 rank: int = 0, world: int = 1):
        self.model, self.config, self.rank, self.world = model, config, rank, world
        self.inputs, self.targets = inputs, targets
        self.valid_inputs, self.valid_targets = valid_inputs, valid_targets
        self.params = [p for _, p in model.named_parameters()]

    def chunk_indices(self, step: int) -> torch.Tensor:
        """Chunks whose loss defines step ``step`` (all, or a seeded random subset), this rank's share."""
        n = self.inputs.shape[0]
        if self.config.batch_fraction >= 1.0:
            chosen = torch.arange(n)
        else:
            gen = torch.Generator().manual_seed(self.config.seed * 1_000_003 + step)
            k = max(1, round(self.config.batch_fraction * n))
            chosen = torch.randperm(n, generator=gen)[:k].sort().values
        return chosen[self.rank:: self.world]

    def total_tokens(self, step: int) -> int:
        """Tokens in step ``step``'s objective, over all ranks (the divisor of the mean loss)."""
        n = self.inputs.shape[0]
        k = n if self.config.batch_fraction >= 1.0 else max(1, round(self.config.batch_fraction * n))
        return k * self.config.seq_len

    def compute(self, step: int) -> float:
        """Set ``p.grad`` to the gradient of the step's objective; return the mean CE at the current x.

        Gradients of micro-batch *sums* are accumulated, all-reduced over ranks, and divided
        by the global token count for ``loss_reduction="mean"``.
        """
        cfg = self.config
        for p in self.params:
            p.grad = torch.zeros_like(p)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.params[0].device)
        idx = self.chunk_indices(step)
        for start in range(0, idx.numel(), cfg.micro_batch):
            sel = idx[start: start + cfg.micro_batch].to(self.inputs.device)
            part = self.model.loss_sum(self.inputs[sel], self.targets[sel], cfg.loss_chunk_rows)
            part.backward()
            loss_sum += part.detach().double()
        if self.world > 1:
            distributed.all_reduce_sums(self.params, loss_sum)
        n_tok = self.total_tokens(step)
        if cfg.loss_reduction == "mean":
            torch._foreach_div_([p.grad for p in self.params], float(n_tok))
        return float(loss_sum) / n_tok

    def validation_perplexity(self) -> float:
        """exp(mean CE) over the validation chunks; ``inf`` when it overflows a float."""
        return evaluation.validation_perplexity(self.model, self.valid_inputs, self.valid_targets,
                                                self.config)
