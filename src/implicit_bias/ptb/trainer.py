r"""Exact full-batch training of the PTB transformer with AdamW (Algorithm 1), Adam-ℓ2 or Adam.

Each step computes the gradient of the full-batch objective

.. math::

    L(x) = \frac{1}{N}\sum_{k=1}^{n}\sum_{j=1}^{35} \mathrm{CE}\big(f_x(u_k)_j, y_{k,j}\big)
    \quad(\texttt{loss\_reduction="mean"},\ N = 35n)\qquad\text{or } N L(x)\ (\texttt{"sum"}),

accumulated over micro-batches of chunks (so the result does not depend on the micro-batch
size, up to float round-off), and, with several processes (``torchrun``), over shards of the
chunks whose gradient *sums* are all-reduced before the division by the global :math:`N`, so
the step equals the single-process step.  ``batch_fraction < 1`` (the paper's Figure 2
variant) uses, at step :math:`t`, the first ``round(fraction * n)`` chunks of a permutation drawn
from a generator seeded with ``(seed, t)``: a different random subset each step, fixed by the
seed (so a resumed run draws the same subsets).

After every step :math:`t` the trainer records ``loss`` :math:`=` mean cross-entropy at
:math:`x_{t-1}` (the point whose gradient made the step), :math:`\|x_t\|_\infty`, the tensor
attaining it, :math:`\|x_t\|_2`, and every ``eval_every`` steps the validation perplexity.
It writes ``metrics.csv`` (one row per step, row 0 is :math:`x_0`), ``tensor_linf.csv``
(:math:`\|\cdot\|_\infty` per tensor every ``tensor_log_every`` steps), ``run.json``
(configuration, summary, provenance) and ``checkpoint.pt`` (every ``checkpoint_every`` steps;
model, optimizer, RNG states, step, metrics so far) from which ``resume=True`` continues to
*identical* metrics.  A non-finite loss stops the run before the step is applied, keeps the last
good checkpoint and raises :class:`NonFiniteLossError`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from ..optim import AdamL2, AdamW
from .data import load_corpus, make_chunks
from .model import TransformerLM

__all__ = ["TrainConfig", "Trainer", "NonFiniteLossError", "train", "read_metrics",
           "OPTIMIZERS", "LOSS_REDUCTIONS"]

OPTIMIZERS = ("adamw", "adam", "adam-l2")
LOSS_REDUCTIONS = ("mean", "sum")
METRIC_COLUMNS = ("step", "loss", "linf", "linf_tensor", "l2", "val_ppl")


class NonFiniteLossError(RuntimeError):
    """The full-batch loss became NaN or infinite; the last good checkpoint was kept."""


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a run (the ``cpu`` and ``paper`` presets are in :mod:`.configs`).

    Data: ``train_tokens`` (first tokens of the training split, own vocabulary; ``None`` = all),
    ``valid_tokens``, ``seq_len``.  Model: ``d_model``, ``n_heads``, ``d_ff``, ``n_layers``.
    Optimisation: ``optimizer`` in :data:`OPTIMIZERS`, ``lr`` (η), ``beta1``, ``beta2``,
    ``eps``, ``weight_decay`` (λ; ignored by ``"adam"``), ``bias_correction``,
    ``loss_reduction`` in :data:`LOSS_REDUCTIONS`, ``steps``, ``batch_fraction``.
    Execution: ``micro_batch`` (chunks per forward pass), ``loss_chunk_rows`` (rows of the
    chunked output layer), ``device``, ``tf32`` (TF32 matrix products on CUDA),
    ``threads`` (CPU threads, 0 = leave torch's default).
    Logging: ``eval_every``, ``checkpoint_every``, ``tensor_log_every``.
    """

    name: str = "custom"
    train_tokens: int | None = None
    valid_tokens: int | None = None
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
        checks = [
            ("optimizer", self.optimizer in OPTIMIZERS, f"one of {OPTIMIZERS}"),
            ("loss_reduction", self.loss_reduction in LOSS_REDUCTIONS, f"one of {LOSS_REDUCTIONS}"),
            ("lr", 0.0 <= self.lr < math.inf, "finite and >= 0"),
            ("weight_decay", 0.0 <= self.weight_decay < math.inf, "finite and >= 0"),
            ("eps", 0.0 <= self.eps < math.inf, "finite and >= 0"),
            ("beta1", 0.0 <= self.beta1 < 1.0, "in [0, 1)"),
            ("beta2", 0.0 <= self.beta2 < 1.0, "in [0, 1)"),
            ("steps", self.steps >= 0, ">= 0"),
            ("batch_fraction", 0.0 < self.batch_fraction <= 1.0, "in (0, 1]"),
            ("micro_batch", self.micro_batch >= 1, ">= 1"),
            ("seq_len", self.seq_len >= 1, ">= 1"),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid: must be {allowed}")
        return self

    @property
    def effective_weight_decay(self) -> float:
        """λ as the optimizer sees it (plain Adam has none)."""
        return 0.0 if self.optimizer == "adam" else self.weight_decay

    def label(self) -> str:
        """A short run name such as ``adamw_b0.99-0.99_wd1_mean_s0``."""
        wd = "" if self.optimizer == "adam" else f"_wd{self.weight_decay:g}"
        red = f"_{self.loss_reduction}" if self.optimizer == "adam-l2" else ""
        frac = "" if self.batch_fraction == 1.0 else f"_frac{self.batch_fraction:g}"
        return f"{self.optimizer}_b{self.beta1:g}-{self.beta2:g}{wd}{red}{frac}_s{self.seed}"


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _fmt(value) -> str:
    if isinstance(value, float):
        return repr(value)  # shortest round-trip repr: resumed and fresh runs write equal text
    return str(value)


class Trainer:
    """One full-batch run.  ``Trainer(config).run(out_dir)``; see the module docstring.

    In a ``torchrun`` job (``WORLD_SIZE > 1``) the process group is initialised here (NCCL on
    CUDA, gloo on CPU) unless it already is; rank ``r`` of ``W`` takes chunks ``r, r+W, ...``.
    """

    def __init__(self, config: TrainConfig, data_dir=None, corpus=None, show_progress=True):
        self.config = config.validate()
        device = config.device
        if device == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"  # one GPU per torchrun rank
            torch.cuda.set_device(torch.device(device))
        self.rank, self.world = _init_distributed(device)
        self.device = torch.device(device)
        if config.device.startswith("cuda"):
            # TF32 matrix products (parameters, gradients, optimizer state stay fp32) unless
            # tf32=False (strict fp32, ~4x slower on an H200)
            torch.backends.cuda.matmul.allow_tf32 = config.tf32
            torch.backends.cudnn.allow_tf32 = config.tf32
        if config.threads:
            torch.set_num_threads(config.threads)
        _seed_everything(config.seed)
        self.corpus = corpus or load_corpus(data_dir, config.train_tokens, config.valid_tokens)
        self.inputs, self.targets = make_chunks(self.corpus.train, config.seq_len)
        self.valid_inputs, self.valid_targets = make_chunks(self.corpus.valid, config.seq_len)
        if self.device.type != "cpu":  # token ids are small (15 MB at paper scale): keep them on the device
            self.inputs, self.targets = self.inputs.to(self.device), self.targets.to(self.device)
            self.valid_inputs = self.valid_inputs.to(self.device)
            self.valid_targets = self.valid_targets.to(self.device)
        self.model = TransformerLM(self.corpus.vocab_size, config.d_model, config.n_heads,
                                   config.d_ff, config.n_layers,
                                   max_len=max(512, config.seq_len)).to(self.device)
        self.names = [n for n, _ in self.model.named_parameters()]
        self.params = [p for _, p in self.model.named_parameters()]
        opt_cls = AdamW if config.optimizer == "adamw" else AdamL2
        self.optimizer = opt_cls(self.params, lr=config.lr, betas=(config.beta1, config.beta2),
                                 eps=config.eps, weight_decay=config.effective_weight_decay,
                                 bias_correction=config.bias_correction)
        self.show_progress = show_progress and self.rank == 0
        self.step = 0
        self.rows: list[dict] = []
        self.tensor_rows: list[dict] = []
        # running max / min over steps of v~ = (sqrt(v) + eps)^2 per coordinate (Lemma 4.3)
        self.v_max = [torch.zeros_like(p) for p in self.params]
        self.v_min = [torch.full_like(p, math.inf) for p in self.params]

    # ---------- the full-batch gradient ----------
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
        n = self.inputs.shape[0]
        k = n if self.config.batch_fraction >= 1.0 else max(1, round(self.config.batch_fraction * n))
        return k * self.config.seq_len

    def compute_gradient(self, step: int) -> float:
        """Set ``p.grad`` to the gradient of the step's objective; return the mean CE at the current x.

        Gradients of micro-batch *sums* are accumulated, all-reduced over ranks, and divided
        by the global token count for ``loss_reduction="mean"``.
        """
        cfg = self.config
        for p in self.params:
            p.grad = torch.zeros_like(p)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        idx = self.chunk_indices(step)
        for start in range(0, idx.numel(), cfg.micro_batch):
            sel = idx[start: start + cfg.micro_batch].to(self.inputs.device)
            x, y = self.inputs[sel], self.targets[sel]
            part = self.model.loss_sum(x, y, cfg.loss_chunk_rows)
            part.backward()
            loss_sum += part.detach().double()
        if self.world > 1:
            # one all-reduce of the flattened gradient sums (plus one for the float64 loss sum)
            flat = torch.cat([p.grad.reshape(-1) for p in self.params])
            dist.all_reduce(flat)
            dist.all_reduce(loss_sum)
            offset = 0
            for p in self.params:
                p.grad.copy_(flat[offset: offset + p.numel()].view_as(p))
                offset += p.numel()
        n_tok = self.total_tokens(step)
        if cfg.loss_reduction == "mean":
            torch._foreach_div_([p.grad for p in self.params], float(n_tok))
        return float(loss_sum) / n_tok

    @torch.no_grad()
    def validation_perplexity(self) -> float:
        """exp(mean CE) over the validation chunks."""
        total, count = 0.0, 0
        for start in range(0, self.valid_inputs.shape[0], self.config.micro_batch):
            x = self.valid_inputs[start: start + self.config.micro_batch]
            y = self.valid_targets[start: start + self.config.micro_batch]
            total += float(self.model.loss_sum(x, y, self.config.loss_chunk_rows))
            count += y.numel()
        return math.exp(total / count) if count else math.nan

    # ---------- norms ----------
    @torch.no_grad()
    def norms(self) -> tuple[float, str, float, list[float]]:
        """(‖x‖∞, name of the tensor attaining it, ‖x‖₂, per-tensor ‖·‖∞)."""
        per = torch.stack([p.detach().abs().max() for p in self.params]).double().cpu()
        l2 = torch.stack([p.detach().double().pow(2).sum() for p in self.params]).sum().sqrt()
        k = int(torch.argmax(per))
        return float(per[k]), self.names[k], float(l2), per.tolist()

    @torch.no_grad()
    def _track_second_moment(self) -> None:
        eps = self.config.eps
        for p, vmax, vmin in zip(self.params, self.v_max, self.v_min):
            v = self.optimizer.state[p]["exp_avg_sq"]
            v_tilde = (v.sqrt() + eps).square()
            torch.maximum(vmax, v_tilde, out=vmax)
            # coordinates whose gradients were all 0 so far (v~ = 0) do not count (0/0 := 0)
            vmin.copy_(torch.where(v_tilde > 0, torch.minimum(vmin, v_tilde), vmin))

    @torch.no_grad()
    def log_v_ratio(self) -> float:
        r"""max over coordinates of :math:`\ln(V_t / v^{\min}_t)` (Lemma 4.3), coordinates with v>0 only."""
        best = 0.0
        for vmax, vmin in zip(self.v_max, self.v_min):
            ok = torch.isfinite(vmin) & (vmin > 0)
            if ok.any():
                best = max(best, float((vmax[ok].double().log() - vmin[ok].double().log()).max()))
        return best

    # ---------- bookkeeping ----------
    def _record(self, loss: float) -> None:
        linf, arg, l2, per = self.norms()
        val = math.nan
        cfg = self.config
        if self.step > 0 and (self.step % cfg.eval_every == 0 or self.step == cfg.steps):
            val = self.validation_perplexity()
        self.rows.append(dict(step=self.step, loss=loss, linf=linf, linf_tensor=arg, l2=l2,
                              val_ppl=val))
        if self.step % cfg.tensor_log_every == 0 or self.step == cfg.steps:
            self.tensor_rows.append(dict(step=self.step, **dict(zip(self.names, per))))

    def _state(self) -> dict:
        return dict(config=asdict(self.config), step=self.step,
                    model=self.model.state_dict(), optimizer=self.optimizer.state_dict(),
                    rows=self.rows, tensor_rows=self.tensor_rows, v_max=self.v_max,
                    v_min=self.v_min, rng=_rng_state())

    def save_checkpoint(self, out: Path) -> None:
        if self.rank == 0:
            tmp = out / "checkpoint.pt.tmp"
            torch.save(self._state(), tmp)
            os.replace(tmp, out / "checkpoint.pt")  # atomic: a kill never leaves a half file
        if self.world > 1:
            dist.barrier()

    def load_checkpoint(self, out: Path) -> None:
        state = torch.load(out / "checkpoint.pt", map_location=self.device, weights_only=False)
        saved = {k: v for k, v in state["config"].items() if k not in _RESUMABLE}
        now = {k: v for k, v in asdict(self.config).items() if k not in _RESUMABLE}
        if saved != now:
            diff = {k: (saved.get(k), now.get(k)) for k in now if saved.get(k) != now.get(k)}
            raise ValueError(f"cannot resume {out}: configuration differs (saved, now): {diff}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.rows, self.tensor_rows = state["step"], state["rows"], state["tensor_rows"]
        for dst, src in zip(self.v_max + self.v_min, state["v_max"] + state["v_min"]):
            dst.copy_(src)
        _set_rng_state(state["rng"])

    def write_metrics(self, out: Path) -> None:
        if self.rank != 0:
            return
        _write_csv(out / "metrics.csv", METRIC_COLUMNS, self.rows)
        _write_csv(out / "tensor_linf.csv", ["step"] + self.names, self.tensor_rows)

    def summary(self) -> dict:
        cfg = self.config
        linf = [r["linf"] for r in self.rows]
        half = [r["linf"] for r in self.rows if r["step"] >= cfg.steps / 2] or linf[-1:]
        losses = [r["loss"] for r in self.rows if r["step"] > 0]
        vals = [r["val_ppl"] for r in self.rows if not math.isnan(r["val_ppl"])]
        return dict(steps_done=self.step, initial_linf=linf[0], final_linf=linf[-1],
                    max_linf=max(linf), max_linf_second_half=max(half),
                    final_linf_tensor=self.rows[-1]["linf_tensor"], final_l2=self.rows[-1]["l2"],
                    final_loss=losses[-1] if losses else math.nan,
                    final_val_ppl=vals[-1] if vals else math.nan,
                    log_v_ratio=self.log_v_ratio(), n_params=sum(p.numel() for p in self.params),
                    vocab_size=self.corpus.vocab_size, train_chunks=int(self.inputs.shape[0]),
                    train_tokens=int(self.inputs.numel()))

    # ---------- the loop ----------
    def run(self, out_dir, resume: bool = False) -> dict:
        """Train to ``config.steps``; write results into ``out_dir``; return ``run.json``'s dict."""
        from ..report import provenance

        out = Path(out_dir)
        if self.rank == 0:
            out.mkdir(parents=True, exist_ok=True)
        if self.world > 1:
            dist.barrier()
        resumed = bool(resume and (out / "checkpoint.pt").is_file())
        if resumed:
            self.load_checkpoint(out)
        else:
            self._record(math.nan)
        t0, c0 = time.perf_counter(), time.process_time()
        from tqdm import tqdm  # plain bar: tqdm.auto warns in notebooks without ipywidgets

        bar = tqdm(total=self.config.steps, initial=self.step, disable=not self.show_progress,
                   desc=self.config.label(), mininterval=1.0)
        try:
            while self.step < self.config.steps:
                loss = self.compute_gradient(self.step + 1)
                if not math.isfinite(loss):
                    self.write_metrics(out)
                    raise NonFiniteLossError(
                        f"loss is {loss} at step {self.step + 1} ({self.config.label()}); the step "
                        f"was not applied. The last good checkpoint is kept in {out}/checkpoint.pt "
                        f"(its step is the last multiple of checkpoint_every="
                        f"{self.config.checkpoint_every} reached). Lower the learning rate "
                        f"(lr={self.config.lr:g}) or check the data.")
                self.optimizer.step()
                self.step += 1
                self._track_second_moment()
                self._record(loss)
                bar.update(1)
                if self.show_progress and self.step % 10 == 0:
                    bar.set_postfix(loss=f"{loss:.3f}", linf=f"{self.rows[-1]['linf']:.3f}")
                if self.step % self.config.checkpoint_every == 0:
                    self.save_checkpoint(out)
                    self.write_metrics(out)
        finally:
            bar.close()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if self.step % self.config.checkpoint_every:
            self.save_checkpoint(out)
        self.write_metrics(out)
        result = dict(config=asdict(self.config), label=self.config.label(),
                      summary=self.summary(),
                      timing=dict(wall_time_s=wall, cpu_time_s=cpu, world_size=self.world,
                                  device=str(self.device), resumed=resumed,
                                  device_name=_device_name(self.device)),
                      provenance=provenance(asdict(self.config), self.config.seed))
        if self.rank == 0:
            (out / "run.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
        return result


_RESUMABLE = {"steps", "device", "threads", "micro_batch", "loss_chunk_rows", "checkpoint_every",
              "tf32"}


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return platform.processor() or platform.machine()


def _write_csv(path: Path, columns, rows) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_fmt(row[c]) for c in columns])
    os.replace(tmp, path)


def _init_distributed(device: str) -> tuple[int, int]:
    """(rank, world size); initialise the default process group under torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend)
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def read_metrics(path) -> dict[str, np.ndarray]:
    """Columns of a ``metrics.csv`` (or ``tensor_linf.csv``) as arrays (``linf_tensor`` as str)."""
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        cols = list(zip(*reader))
    out = {}
    for name, col in zip(header, cols):
        try:
            out[name] = np.array([float(v) for v in col])
        except ValueError:
            out[name] = np.array(col)
    return out


def train(config: TrainConfig, out_dir, resume: bool = False, data_dir=None, corpus=None,
          show_progress: bool = True, **overrides) -> dict:
    """Convenience: ``Trainer(replace(config, **overrides)).run(out_dir, resume)``."""
    if overrides:
        valid = {f.name for f in fields(TrainConfig)}
        bad = set(overrides) - valid
        if bad:
            raise ValueError(f"unknown settings {sorted(bad)}")
        config = replace(config, **overrides)
    return Trainer(config, data_dir=data_dir, corpus=corpus,
                   show_progress=show_progress).run(out_dir, resume=resume)


def _gloo_worker(rank: int, world: int, port: int, config: TrainConfig, out_dir, data_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        Trainer(config, data_dir=data_dir, show_progress=False).run(out_dir)
    finally:
        dist.destroy_process_group()


def run_gloo(config: TrainConfig, out_dir, world_size: int = 2, data_dir=None) -> dict:
    """Run ``config`` as ``world_size`` CPU processes (gloo), as ``torchrun`` would; return run.json.

    Used to check that the sharded step equals the single-process full-batch step.
    """
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:  # a free local port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # fork: the children inherit the imported modules (spawn would re-import torch in each)
    mp.start_processes(_gloo_worker, args=(world_size, port, config, str(out_dir), data_dir),
                       nprocs=world_size, join=True, start_method="fork")
    return json.loads((Path(out_dir) / "run.json").read_text())
