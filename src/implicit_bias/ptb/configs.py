r"""The two configurations of the PTB experiment and the runs of a sweep.

``paper`` is §5.1 of Xie & Li (2024): the full training split (929,589 tokens, 10,000 words),
the PyTorch example's transformer (width 200, 2 layers, 2 heads, feed-forward 200),
η = 1e-3 constant, 12,800 full-batch steps, λ ∈ {1, 2}, seeds 0 and 1.  The Figure 2 variant
adds ``batch_fraction=0.5`` (a seeded random half of the chunks at each step, see
:mod:`.trainer`).

``cpu`` is the scaled configuration the book runs.  Each change keeps the mechanism of
Lemma 4.3, whose only clock is the decay factor :math:`q = 1-\lambda\eta` (time constant
:math:`1/(\lambda\eta)` steps):

* **data**: the first 5,000 training tokens (142 chunks of 35) with *their own* vocabulary
  (1,326 words), so every embedding row is used (no never-updated rows) and the decoder is
  small; the objective is still an exact full-batch loss of the same form;
* **model**: width 64, feed-forward 64 (2 heads, 2 layers as in the paper): 221,486 parameters,
  the same tensor types (embedding, attention, LayerNorm, decoder) that compete for the ℓ∞ norm;
* **η = 1e-2** (10x the paper's) so that :math:`1/(\lambda\eta)` = 100 (λ=1) or 50 (λ=2) steps,
  and **400 steps** = 4-8 time constants, the paper's 12,800 steps being 12.8-25.6 of them:
  both end in the asymptotic regime :math:`q^t \approx 0` of Lemma 4.3
  (:math:`0.99^{400} = 0.018`, :math:`0.98^{400} = 3\cdot10^{-4}`);
* the β settings are the paper's; the condition :math:`1-\beta_2 \gg \lambda\eta` of Lemma 4.3 for
  (0.9, 0.95) becomes 0.05 vs 0.01 / 0.02 (5x / 2.5x instead of 50x / 25x), so the cpu
  configuration is a *harder* test of that setting, while the default (0.9, 0.999) violates it
  more strongly (1-β2 = 1e-3 ≪ λη) than at paper scale.

The ``cpu`` sweep runs AdamW at all β settings × λ for seeds 0 and 1 (the paper's Figures 4–6
show two seeds) and the three baselines (Adam without decay, Adam-ℓ2 on the mean loss, Adam-ℓ2
on the summed loss) at every β setting, for the same two seeds.  ``cpu-wide`` is the paper's model (width
200, feed-forward 200, the full 10,000-word vocabulary) on the ``cpu`` data, η and step count:
about 0.8 s a step on 2 cores, so its sweep is AdamW only.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace

from .. import validation

__all__ = ["TrainConfig", "CONFIGS", "BETAS", "WEIGHT_DECAYS", "OPTIMIZERS", "DECOUPLED",
           "LOSS_REDUCTIONS", "VOCABULARIES",
           "RESUMABLE", "config_differences", "get_config", "sweep_configs"]

#: the optimizers a run can use (``--optimizer``). ``lion`` is :class:`implicit_bias.optim.Lion`
#: (betas = (beta1, beta2)) on every tensor; ``muon`` is ``torch.optim.Muon`` (momentum = beta1,
#: Nesterov, ``adjust_lr_fn=None``) on the 2-D matrices of the transformer layers and
#: :class:`implicit_bias.optim.AdamW` (beta1, beta2, eps) on the embedding, the decoder and every
#: other tensor, with one lr and weight decay (book chapter ``ch-many-optimizers``). ``sgd`` is
#: ``torch.optim.SGD`` (heavy-ball momentum = beta1, weight decay added to the gradient; with
#: beta1 = 0 it is gradient descent with decay factor 1 - lr * weight_decay), for the rotation
#: runs of the chapter ``ch-rotation``, where ``lion`` with betas (0, 0) is sign descent.
OPTIMIZERS = ("adamw", "adam", "adam-l2", "lion", "muon", "sgd")
#: the optimizers with decoupled weight decay, whose factor 1 - lr * weight_decay must be >= 0
DECOUPLED = ("adamw", "lion", "muon")
#: how Adam-ℓ2's loss is reduced over tokens (``--loss-reduction``)
LOSS_REDUCTIONS = ("mean", "sum")
#: where the vocabulary comes from (``--vocab``): the kept training tokens, or the whole split
VOCABULARIES = ("train", "full")
#: the settings that may change between a run and its resumption, because they change speed,
#: memory, logging cadence or the end point, never the arithmetic of the steps already taken
RESUMABLE = frozenset({"steps", "device", "threads", "micro_batch", "loss_chunk_rows",
                       "checkpoint_every", "tf32"})
_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a run (the ``cpu`` and ``paper`` presets are :data:`~implicit_bias.ptb.configs.CONFIGS`).

    Data: ``train_tokens`` (first tokens of the training split; ``None`` = all),
    ``valid_tokens``, ``vocab`` in :data:`~implicit_bias.ptb.configs.VOCABULARIES` (``"train"``:
    the words of the kept training tokens; ``"full"``: the 10,000 words of the whole training
    split, as in the paper), ``seq_len``.  Model: ``d_model``, ``n_heads``, ``d_ff``, ``n_layers``.
    Optimisation: ``optimizer`` in :data:`~implicit_bias.ptb.configs.OPTIMIZERS`, ``lr`` (η), ``beta1``, ``beta2``,
    ``eps``, ``weight_decay`` (λ; ignored by ``"adam"``), ``bias_correction``,
    ``loss_reduction`` in :data:`~implicit_bias.ptb.configs.LOSS_REDUCTIONS`, ``steps``, ``batch_fraction``.
    Basis: ``rotation_seed`` (``None``: the network's own coordinates; an integer: every 2-D
    weight is trained in a fixed Haar-random basis drawn from that seed, :mod:`.rotation`).
    Execution: ``micro_batch`` (chunks per forward pass), ``loss_chunk_rows`` (rows of the
    chunked output layer), ``device``, ``tf32`` (TF32 matrix products on CUDA),
    ``threads`` (CPU threads, 0 = leave torch's default).
    Logging: ``eval_every``, ``checkpoint_every``, ``tensor_log_every``.

    This module does not import torch, so that reading results never needs it.
    """

    name: str = "custom"
    train_tokens: int | None = None
    valid_tokens: int | None = None
    vocab: str = "train"
    seq_len: int = 35
    d_model: int = 200
    n_heads: int = 2
    d_ff: int = 200
    n_layers: int = 2
    optimizer: str = "adamw"
    lr: float = 1e-3
    beta1: float = 0.99
    beta2: float = 0.99
    eps: float = 0.0
    weight_decay: float = 1.0
    bias_correction: bool = False
    loss_reduction: str = "mean"
    steps: int = 12800
    batch_fraction: float = 1.0
    seed: int = 0
    rotation_seed: int | None = None
    micro_batch: int = 512
    loss_chunk_rows: int = 4096
    device: str = "cpu"
    tf32: bool = True
    threads: int = 0
    eval_every: int = 100
    checkpoint_every: int = 200
    tensor_log_every: int = 50

    def validate(self) -> "TrainConfig":
        """Raise ``ValueError`` naming the parameter and its allowed range; return ``self``."""
        positive = ("seq_len", "d_model", "n_heads", "d_ff", "n_layers", "micro_batch",
                    "loss_chunk_rows", "eval_every", "checkpoint_every", "tensor_log_every")
        checks = [
            ("optimizer", self.optimizer in OPTIMIZERS, f"one of {OPTIMIZERS}"),
            ("loss_reduction", self.loss_reduction in LOSS_REDUCTIONS, f"one of {LOSS_REDUCTIONS}"),
            ("vocab", self.vocab in VOCABULARIES, f"one of {VOCABULARIES}"),
            ("lr", 0.0 <= self.lr < math.inf, "finite and >= 0"),
            ("weight_decay", 0.0 <= self.weight_decay < math.inf, "finite and >= 0"),
            ("eps", 0.0 <= self.eps < math.inf, "finite and >= 0"),
            ("beta1", 0.0 <= self.beta1 < 1.0, "in [0, 1)"),
            ("beta2", 0.0 <= self.beta2 < 1.0, "in [0, 1)"),
            ("steps", self.steps >= 0, ">= 0"),
            ("batch_fraction", 0.0 < self.batch_fraction <= 1.0, "in (0, 1]"),
            ("threads", self.threads >= 0, ">= 0 (0: torch's default)"),
            ("device", bool(_DEVICE.match(str(self.device))), "cpu, cuda or cuda:N"),
            ("rotation_seed", self.rotation_seed is None or (
                isinstance(self.rotation_seed, int) and self.rotation_seed >= 0),
             "an integer >= 0, or unset (None) for the network's own basis"),
        ] + [(name, getattr(self, name) >= 1, ">= 1") for name in positive]
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid: must be {allowed}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is invalid: must be a multiple of "
                             f"n_heads={self.n_heads}")
        if self.optimizer in DECOUPLED and validation.decay_flips_sign(self.lr, self.weight_decay):
            # AdamW (and Lion, Muon) multiplies x by 1 - λη each step: above 1 the factor is negative and the
            # iterates flip sign every step instead of decaying (Algorithm 1 needs λη <= 1)
            raise ValueError(f"lr * weight_decay = {self.lr:g} * {self.weight_decay:g} = "
                             f"{self.lr * self.weight_decay:g} is invalid: must be <= 1, else the "
                             f"decay factor 1 - lr * weight_decay is negative and flips the "
                             f"parameters' signs every step")
        return self

    @property
    def rotated(self) -> bool:
        """Whether the weight matrices are trained in a random basis (``rotation_seed`` set)."""
        return self.rotation_seed is not None

    @property
    def effective_weight_decay(self) -> float:
        """λ as the optimizer sees it (plain Adam has none)."""
        return 0.0 if self.optimizer == "adam" else self.weight_decay

    def label(self) -> str:
        """A short run name such as ``adamw_b0.99-0.99_wd1_mean_s0`` (``_rot0``: rotated basis, seed 0)."""
        wd = "" if self.optimizer == "adam" else f"_wd{self.weight_decay:g}"
        red = f"_{self.loss_reduction}" if self.optimizer == "adam-l2" else ""
        frac = "" if self.batch_fraction == 1.0 else f"_frac{self.batch_fraction:g}"
        rot = "" if self.rotation_seed is None else f"_rot{self.rotation_seed}"
        return (f"{self.optimizer}_b{self.beta1:g}-{self.beta2:g}{wd}{red}{frac}{rot}"
                f"_s{self.seed}")

    def to_dict(self) -> dict:
        """The settings as the plain dict stored in ``run.json`` and checkpoints."""
        return asdict(self)


def config_differences(saved: dict, now: dict, ignore=RESUMABLE) -> dict:
    """``{name: (saved value, current value)}`` for every setting that differs, except ``ignore``.

    >>> config_differences({"lr": 0.01, "steps": 4}, {"lr": 0.1, "steps": 8})
    {'lr': (0.01, 0.1)}
    """
    # a setting added after a run was saved had its default value in that run
    saved = {**{k: v for k, v in _DEFAULTS.items() if k in now}, **saved}
    names = (set(saved) | set(now)) - set(ignore)
    return {k: (saved.get(k), now.get(k)) for k in sorted(names) if saved.get(k) != now.get(k)}

_DEFAULTS = asdict(TrainConfig())

#: the (β1, β2) of the sweep, two with β1 = β2, one β1 < β2 meeting Lemma 4.3's condition, and
#: PyTorch's default
BETAS = ((0.99, 0.99), (0.999, 0.999), (0.9, 0.95), (0.9, 0.999))
#: the weight decays λ of the sweep
WEIGHT_DECAYS = (1.0, 2.0)

#: the named configurations (``--config``)
CONFIGS = {
    "cpu": TrainConfig(
        name="cpu", train_tokens=5000, valid_tokens=3500, d_model=64, n_heads=2, d_ff=64,
        n_layers=2, lr=1e-2, steps=400, micro_batch=512, loss_chunk_rows=8192, threads=2,
        eval_every=50, checkpoint_every=100, tensor_log_every=10),
    # the paper's model (width 200, feed-forward 200, the 10,000-word vocabulary) on the cpu
    # configuration's data, step size and step count: the width-64 model's conclusions, checked
    # at the paper's width
    "cpu-wide": TrainConfig(
        name="cpu-wide", train_tokens=5000, valid_tokens=3500, vocab="full", d_model=200,
        n_heads=2, d_ff=200, n_layers=2, lr=1e-2, steps=400, micro_batch=512,
        loss_chunk_rows=2048, threads=2, eval_every=50, checkpoint_every=100,
        tensor_log_every=10),
    "paper": TrainConfig(
        name="paper", train_tokens=None, valid_tokens=None, d_model=200, n_heads=2, d_ff=200,
        n_layers=2, lr=1e-3, steps=12800, micro_batch=512, loss_chunk_rows=1024,
        eval_every=200, checkpoint_every=200, tensor_log_every=50),
}


def get_config(name: str, **overrides) -> TrainConfig:
    """The preset ``name`` (``"cpu"`` or ``"paper"``) with ``overrides`` applied, validated.

    >>> get_config("cpu", optimizer="adam-l2", weight_decay=2.0).label()
    'adam-l2_b0.99-0.99_wd2_mean_s0'
    """
    if name not in CONFIGS:
        raise ValueError(f"config={name!r} is unknown: must be one of {sorted(CONFIGS)}")
    return replace(CONFIGS[name], **overrides).validate()


def sweep_configs(name: str, seeds=None, batch_fraction: float = 1.0) -> list[TrainConfig]:
    """All runs of the figures for config ``name``.

    ``cpu`` and ``paper``: AdamW and the three baselines (Adam without decay, Adam-ℓ2 on the mean
    and on the summed loss) at every β (× λ), seeds 0 and 1: 56 runs.  ``cpu-wide``: AdamW at
    every β × λ, seed 0: 8 runs.  ``seeds`` overrides the seeds.

    >>> len(sweep_configs("cpu")), len(sweep_configs("cpu-wide")), len(sweep_configs("paper"))
    (56, 8, 56)
    """
    base = get_config(name, batch_fraction=batch_fraction)
    seeds = tuple(seeds) if seeds is not None else ((0,) if name == "cpu-wide" else (0, 1))
    runs = []
    for seed in seeds:
        for b1, b2 in BETAS:
            for wd in WEIGHT_DECAYS:
                runs.append(replace(base, optimizer="adamw", beta1=b1, beta2=b2,
                                    weight_decay=wd, seed=seed))
        if name == "cpu-wide":
            continue
        for b1, b2 in BETAS:
            runs.append(replace(base, optimizer="adam", beta1=b1, beta2=b2, weight_decay=0.0,
                                seed=seed))
            for reduction in ("mean", "sum"):
                for wd in WEIGHT_DECAYS:
                    runs.append(replace(base, optimizer="adam-l2", beta1=b1, beta2=b2,
                                        weight_decay=wd, loss_reduction=reduction, seed=seed))
    # most informative first, so that a sweep cut short still holds the key comparisons
    return sorted(runs, key=_priority)


_FIRST = [("adamw", (0.99, 0.99), "mean"), ("adamw", (0.9, 0.999), "mean"),
          ("adam-l2", (0.99, 0.99), "sum"), ("adam", (0.99, 0.99), "mean"),
          ("adamw", (0.9, 0.95), "mean"), ("adam-l2", (0.99, 0.99), "mean"),
          ("adamw", (0.999, 0.999), "mean"), ("adam", (0.9, 0.999), "mean")]


def _priority(c: TrainConfig):
    key = (c.optimizer, (c.beta1, c.beta2), c.loss_reduction)
    rank = _FIRST.index(key) if key in _FIRST else len(_FIRST)
    return (c.seed, rank + 2.5 * (c.weight_decay > 1.0))  # interleave the two lambdas
