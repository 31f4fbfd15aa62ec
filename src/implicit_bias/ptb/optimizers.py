"""The optimizers of a run: AdamW, Adam-ℓ2, Adam, Lion, torch's Muon with AdamW beside it, or SGD."""

from __future__ import annotations

import torch

from ..optim import AdamL2, AdamW, Lion
from .configs import TrainConfig


def is_hidden_matrix(name: str, param) -> bool:
    """The tensors Muon handles: 2-D weights inside the transformer layers (attention in/out
    projections, feed-forward), not the embedding or the decoder (as practitioners use Muon)."""
    return param.ndim == 2 and name.startswith("transformer_encoder.")


class MuonAdamW:
    """``torch.optim.Muon`` on the hidden matrices and our :class:`~implicit_bias.optim.AdamW` on
    the rest, stepped together; ``state_dict`` / ``load_state_dict`` hold both."""

    def __init__(self, config: TrainConfig, names, params):
        hidden = [p for n, p in zip(names, params) if is_hidden_matrix(n, p)]
        rest = [p for n, p in zip(names, params) if not is_hidden_matrix(n, p)]
        self.muon = torch.optim.Muon(hidden, lr=config.lr, weight_decay=config.weight_decay,
                                     momentum=config.beta1, nesterov=True, adjust_lr_fn=None)
        self.adamw = AdamW(rest, lr=config.lr, betas=(config.beta1, config.beta2),
                           eps=config.eps, weight_decay=config.weight_decay,
                           bias_correction=config.bias_correction)
        self.optimizers = [self.muon, self.adamw]

    def step(self):
        for opt in self.optimizers:
            opt.step()

    def state_dict(self) -> dict:
        return dict(muon=self.muon.state_dict(), adamw=self.adamw.state_dict())

    def load_state_dict(self, state: dict) -> None:
        self.muon.load_state_dict(state["muon"])
        self.adamw.load_state_dict(state["adamw"])


def make_optimizer(config: TrainConfig, names, params):
    """The optimizer of ``config.optimizer`` (see :data:`.configs.OPTIMIZERS`)."""
    if config.optimizer == "lion":
        return Lion(params, lr=config.lr, betas=(config.beta1, config.beta2),
                    weight_decay=config.weight_decay)
    if config.optimizer == "muon":
        return MuonAdamW(config, names, params)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.beta1,
                               weight_decay=config.weight_decay, foreach=True)
    opt_cls = AdamW if config.optimizer == "adamw" else AdamL2
    return opt_cls(params, lr=config.lr, betas=(config.beta1, config.beta2), eps=config.eps,
                   weight_decay=config.effective_weight_decay,
                   bias_correction=config.bias_correction)
