r"""Exact full-batch training of the PTB transformer with AdamW (Algorithm 1), Adam-ℓ2 or Adam
(and, for the chapter ``ch-many-optimizers``, Lion or torch's Muon + AdamW).

Each step computes the gradient of the full-batch objective

.. math::

    L(x) = \frac{1}{N}\sum_{k=1}^{n}\sum_{j=1}^{35} \mathrm{CE}\big(f_x(u_k)_j, y_{k,j}\big),

    N = 35n\quad(\texttt{loss\_reduction="mean"}),\qquad\text{or } N L(x)\ (\texttt{"sum"}),

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
(:math:`\|\cdot\|_\infty` per tensor every ``tensor_log_every`` steps; for ``lion`` and ``muon``
also ``tensor_spectral.csv``, the spectral norm :math:`\sigma_{\max}` of every 2-D tensor), ``run.json``
(configuration, status, summary, timing, provenance), a ``README.md`` on the columns (the format is
:mod:`.results`) and ``checkpoint.pt`` (every ``checkpoint_every`` steps; model, optimizer, RNG
states, step, metrics so far) from which ``resume=True`` continues to *identical* metrics.

The pieces: :class:`FullBatchGradient` (chunks, micro-batches, all-reduce), :class:`Recorder`
(norms, rows, second-moment tracking for Lemma 4.3, summary), :func:`save_checkpoint` /
:func:`load_checkpoint`, and :class:`Trainer`, which sets them up and runs the loop.

Nothing computed is lost: a run never overwrites a run folder unless asked
(:class:`RunFolderExists`); any non-finite value (training loss, parameters, validation
perplexity) stops the run with the files written up to the last finite step and ``run.json``
marked ``diverged`` (:class:`DivergedError`); Ctrl-C finishes the current step, writes a
checkpoint and raises :class:`RunInterrupted`.
"""


from __future__ import annotations

import math
import os
import random
import signal
import threading
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from .. import monitor
from ..optim import AdamL2, AdamW, Lion
from . import results
from .configs import LOSS_REDUCTIONS, OPTIMIZERS, TrainConfig, config_differences
from .data import load_corpus, make_chunks
from .model import TransformerLM
from .results import METRIC_COLUMNS, read_metrics  # noqa: F401  (read_metrics: used by scripts)

# TrainConfig, read_metrics, OPTIMIZERS and LOSS_REDUCTIONS stay importable from here for old
# callers; they are documented where they live (configs, results).
__all__ = ["Trainer", "FullBatchGradient", "Recorder", "DivergedError", "NonFiniteLossError",
           "RunInterrupted", "RunFolderExists", "train", "save_checkpoint", "load_checkpoint",
           "make_optimizer", "MuonAdamW", "is_hidden_matrix"]


class DivergedError(RuntimeError):
    """A non-finite value stopped the run; ``step``, ``reason``, ``checkpoint_step`` say where.

    The run folder holds metrics.csv and run.json (status ``diverged``) up to the last
    finite step, and the last checkpoint written before, if any.
    """

    def __init__(self, message, step: int, reason: str, checkpoint_step: int | None):
        super().__init__(message)
        self.step, self.reason, self.checkpoint_step = step, reason, checkpoint_step


NonFiniteLossError = DivergedError  # the former name


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C: ``checkpoint_step`` is the step ``checkpoint.pt`` holds (``None``: none written).

    A ``KeyboardInterrupt``, so that ``except Exception`` does not swallow it.
    """

    def __init__(self, message, checkpoint_step: int | None):
        super().__init__(message)
        self.checkpoint_step = checkpoint_step


class RunFolderExists(FileExistsError):
    """The output folder already holds a run, and neither resume nor overwrite was asked."""


# ---------- random state ----------
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


# ---------- the full-batch gradient ----------
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
        """exp(mean CE) over the validation chunks; ``inf`` when it overflows a float."""
        total, count = 0.0, 0
        for start in range(0, self.valid_inputs.shape[0], self.config.micro_batch):
            x = self.valid_inputs[start: start + self.config.micro_batch]
            y = self.valid_targets[start: start + self.config.micro_batch]
            total += float(self.model.loss_sum(x, y, self.config.loss_chunk_rows))
            count += y.numel()
        if not count:
            return math.nan
        try:
            return math.exp(total / count)
        except OverflowError:  # mean CE above ~709: a diverged model, reported as such
            return math.inf


# ---------- the recorder ----------
class Recorder:
    """Per-step rows (loss, norms), per-tensor ℓ∞ norms, and the second-moment range of Lemma 4.3."""

    def __init__(self, names, params, config: TrainConfig):
        self.names, self.params, self.config = list(names), list(params), config
        self.rows: list[dict] = []
        self.tensor_rows: list[dict] = []
        # spectral norms of the 2-D tensors, for the optimizers whose constraint is spectral
        self.matrix_names = ([n for n, p in zip(self.names, self.params) if p.ndim == 2]
                             if config.optimizer in SPECTRAL_LOGGED else [])
        self.spectral_rows: list[dict] = []
        # running max / min over steps of v~ = (sqrt(v) + eps)^2 per coordinate (Lemma 4.3)
        self.v_range = monitor.SecondMomentRange(self.params, config.eps, per_coordinate=True)
        self.v_max, self.v_min = self.v_range.v_max, self.v_range.v_min

    @torch.no_grad()
    def norms(self) -> tuple[float, str, float, list[float]]:
        """(‖x‖∞, name of the tensor attaining it, ‖x‖₂, per-tensor ‖·‖∞); NaN propagates."""
        per = torch.tensor(monitor.linf_norms(self.params), dtype=torch.float64)
        l2 = torch.stack([p.detach().double().pow(2).sum() for p in self.params]).sum().sqrt()
        k = int(torch.argmax(per))
        return float(per[k]), self.names[k], float(l2), per.tolist()

    def needs_validation(self, step: int) -> bool:
        return step > 0 and (step % self.config.eval_every == 0 or step == self.config.steps)

    def measure(self, step: int, loss: float) -> tuple[dict, list[float]]:
        """The row of ``step`` (``val_ppl`` still NaN) and the per-tensor norms; nothing is kept yet."""
        linf, arg, l2, per = self.norms()
        return dict(step=step, loss=loss, linf=linf, linf_tensor=arg, l2=l2, val_ppl=math.nan), per

    def keep(self, row: dict, per_tensor: list[float]) -> None:
        """Append a measured (finite) row, and the per-tensor norms when they are due."""
        self.rows.append(row)
        step = row["step"]
        if step % self.config.tensor_log_every == 0 or step == self.config.steps:
            self.tensor_rows.append(dict(step=step, **dict(zip(self.names, per_tensor))))
            if self.matrix_names:
                self.spectral_rows.append(dict(step=step, **self.spectral_norms()))

    @torch.no_grad()
    def spectral_norms(self) -> dict:
        """``{name: sigma_max}`` of every 2-D tensor (float64 singular values)."""
        named = dict(zip(self.names, self.params))
        return {n: monitor.spectral_norm(named[n]) for n in self.matrix_names}

    def reopen(self) -> None:
        """Undo the extras of a last row recorded as final, so an extended run equals a longer one."""
        if not self.rows:
            return
        step = self.rows[-1]["step"]
        if step % self.config.eval_every:
            self.rows[-1]["val_ppl"] = math.nan
        if step % self.config.tensor_log_every and self.tensor_rows \
                and self.tensor_rows[-1]["step"] == step:
            self.tensor_rows.pop()
            if self.spectral_rows and self.spectral_rows[-1]["step"] == step:
                self.spectral_rows.pop()

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
        return dict(rows=self.rows, tensor_rows=self.tensor_rows, v_max=self.v_max,
                    v_min=self.v_min, spectral_rows=self.spectral_rows)

    def load_state(self, state: dict) -> None:
        self.rows, self.tensor_rows = state["rows"], state["tensor_rows"]
        self.spectral_rows = state.get("spectral_rows", [])
        for dst, src in zip(self.v_max + self.v_min, state["v_max"] + state["v_min"]):
            dst.copy_(src)

    def write(self, out: Path) -> None:
        """metrics.csv and tensor_linf.csv of the kept rows."""
        results.write_csv(out / "metrics.csv", METRIC_COLUMNS, self.rows)
        results.write_csv(out / "tensor_linf.csv", ["step"] + self.names, self.tensor_rows)
        if self.matrix_names:
            results.write_csv(out / "tensor_spectral.csv", ["step"] + self.matrix_names,
                              self.spectral_rows)


# ---------- optimizers ----------
#: optimizers whose runs also record the spectral norm of every 2-D tensor
SPECTRAL_LOGGED = ("lion", "muon")


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
    opt_cls = AdamW if config.optimizer == "adamw" else AdamL2
    return opt_cls(params, lr=config.lr, betas=(config.beta1, config.beta2), eps=config.eps,
                   weight_decay=config.effective_weight_decay,
                   bias_correction=config.bias_correction)


# ---------- checkpoints ----------
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


# ---------- Ctrl-C ----------
class _StopRequest:
    """While active, the first SIGINT only sets a flag (the loop stops after the current step);
    a second one interrupts at once.  Only the main thread can install signal handlers."""

    def __init__(self):
        self.requested, self._previous = False, None

    def _handle(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


class Trainer:
    """One full-batch run.  ``Trainer(config).run(out_dir)``; see the module docstring.

    In a ``torchrun`` job (``WORLD_SIZE > 1``) the process group is initialised here (NCCL on
    CUDA, gloo on CPU) unless it already is; rank ``r`` of ``W`` takes chunks ``r, r+W, ...``.
    """

    def __init__(self, config: TrainConfig, data_dir=None, corpus=None, show_progress=True):
        self.config = config = config.validate()
        self.device = self._set_up_device(config)
        _seed_everything(config.seed)
        self.corpus = corpus or load_corpus(data_dir, config.train_tokens, config.valid_tokens,
                                            vocab=config.vocab)
        inputs, targets = make_chunks(self.corpus.train, config.seq_len)
        valid = make_chunks(self.corpus.valid, config.seq_len)
        # token ids are small (15 MB at paper scale): keep them on the device
        inputs, targets, *valid = (t.to(self.device) for t in (inputs, targets, *valid))
        self.model = TransformerLM(self.corpus.vocab_size, config.d_model, config.n_heads,
                                   config.d_ff, config.n_layers,
                                   max_len=max(512, config.seq_len)).to(self.device)
        self.gradient = FullBatchGradient(self.model, inputs, targets, *valid, config,
                                          self.rank, self.world)
        self.names = [n for n, _ in self.model.named_parameters()]
        self.params = self.gradient.params
        self.optimizer = make_optimizer(config, self.names, self.params)
        self.recorder = Recorder(self.names, self.params, config)
        self.show_progress = show_progress and self.rank == 0
        self.step = 0
        self.checkpoint_step: int | None = None  # the step checkpoint.pt holds, if written
        self.elapsed = dict(wall=0.0, cpu=0.0, sessions=0)  # of earlier sessions (resume)

    def _set_up_device(self, config: TrainConfig) -> torch.device:
        device = config.device
        if device == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"  # one GPU per torchrun rank
            torch.cuda.set_device(torch.device(device))
        self.rank, self.world = _init_distributed(device)
        if device.startswith("cuda"):
            # TF32 matrix products (parameters, gradients, optimizer state stay fp32) unless
            # tf32=False (strict fp32, ~4x slower on an H200)
            torch.backends.cuda.matmul.allow_tf32 = config.tf32
            torch.backends.cudnn.allow_tf32 = config.tf32
        if config.threads:
            torch.set_num_threads(config.threads)
        return torch.device(device)

    # views kept for scripts and benchmarks
    inputs = property(lambda self: self.gradient.inputs)
    targets = property(lambda self: self.gradient.targets)

    def compute_gradient(self, step: int) -> float:
        """:meth:`FullBatchGradient.compute` (a method here so that tests can inject failures)."""
        return self.gradient.compute(step)

    def validation_perplexity(self) -> float:
        return self.gradient.validation_perplexity()

    # ---------- files ----------
    def _state(self) -> dict:
        return dict(config=self.config.to_dict(), step=self.step,
                    model=self.model.state_dict(), optimizer=self.optimizer.state_dict(),
                    rng=_rng_state(), elapsed=self._elapsed_now(), **self.recorder.state())

    def _elapsed_now(self) -> dict:
        return dict(wall=self.elapsed["wall"] + time.perf_counter() - self._t0,
                    cpu=self.elapsed["cpu"] + time.process_time() - self._c0,
                    sessions=self.elapsed["sessions"] + 1)

    def _load(self, out: Path) -> None:
        state = load_checkpoint(out / "checkpoint.pt", self.device, self.config)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.recorder.load_state(state)
        self.step = self.checkpoint_step = state["step"]
        self.elapsed = state.get("elapsed", dict(wall=0.0, cpu=0.0, sessions=1))
        _set_rng_state(state["rng"])

    def _save_checkpoint(self, out: Path) -> None:
        if self.rank == 0:
            save_checkpoint(out / "checkpoint.pt", self._state())
        self.checkpoint_step = self.step
        if self.world > 1:
            dist.barrier()

    def _write(self, out: Path, status: str, **extra) -> dict:
        """metrics.csv, tensor_linf.csv, then run.json (so run.json never runs ahead of the rows)."""
        elapsed = self._elapsed_now()
        result = dict(config=self.config.to_dict(), label=self.config.label(), status=status,
                      summary=self.recorder.summary(
                          n_params=sum(p.numel() for p in self.params),
                          vocab_size=self.corpus.vocab_size,
                          train_chunks=int(self.inputs.shape[0]),
                          train_tokens=int(self.inputs.numel())),
                      timing=dict(wall_time_s=elapsed["wall"], cpu_time_s=elapsed["cpu"],
                                  world_size=self.world, device=str(self.device),
                                  resumed=elapsed["sessions"] > 1, sessions=elapsed["sessions"],
                                  device_name=_device_name(self.device)),
                      provenance=self._provenance, **extra)
        if self.rank == 0:
            self.recorder.write(out)
            results.write_json(out / "run.json", result)
        self.written_step, self.written_status = self.recorder.rows[-1]["step"], status
        return result

    def _prepare_folder(self, out: Path, resume: bool, overwrite: bool) -> None:
        held = [f for f in results.RUN_FILES if (out / f).exists()]
        if held and not (resume or overwrite):
            raise RunFolderExists(f"{out} already holds a run ({', '.join(held)}): continue it "
                                  f"with resume (--resume) or replace it with overwrite "
                                  f"(--overwrite)")
        if self.rank == 0:
            out.mkdir(parents=True, exist_ok=True)
            if overwrite and not resume:  # the old run's files and figures, nothing else
                old = [out / f for f in results.RUN_FILES] + list(out.glob("linf_wd*.png"))
                if results.is_run_readme(out / "README.md"):
                    old.append(out / "README.md")
                for path in old:
                    path.unlink(missing_ok=True)
        if self.world > 1:
            dist.barrier()

    # ---------- the loop ----------
    def run(self, out_dir, resume: bool = False, overwrite: bool = False) -> dict:
        """Train to ``config.steps``; write results into ``out_dir``; return ``run.json``'s dict.

        ``resume``: continue from ``out_dir/checkpoint.pt`` if there is one (a complete run is
        returned as it is, no file changed).  ``overwrite``: replace a run already in
        ``out_dir``.  Without either, a folder holding a run raises :class:`RunFolderExists`.
        Raises :class:`DivergedError` (files kept up to the last finite step) and
        :class:`RunInterrupted` (Ctrl-C; checkpoint written).
        """
        out = Path(out_dir)
        self._prepare_folder(out, resume, overwrite)
        state = results.inspect_folder(out, self.config.to_dict())
        if resume and state.kind == "complete":
            return results.read_run_json(out)
        if resume and state.kind in ("longer", "diverged", "other-config"):
            raise ValueError(f"cannot resume {out}: {state.detail}")
        self._start(out, resume)
        self._train(out)
        if self.step != self.checkpoint_step:
            self._save_checkpoint(out)
        return self._write(out, "complete")

    def _start(self, out: Path, resume: bool) -> None:
        """Load the checkpoint (resume) or record x_0; write the first files."""
        from ..report import provenance

        self._t0, self._c0 = time.perf_counter(), time.process_time()
        self._provenance = provenance(self.config.to_dict(), self.config.seed)
        if resume and (out / "checkpoint.pt").is_file():
            self._load(out)
            if self.step > self.config.steps:
                raise ValueError(f"cannot resume {out}: its checkpoint holds step {self.step}, "
                                 f"more than steps={self.config.steps}")
            self.recorder.reopen()
        else:
            self.recorder.keep(*self.recorder.measure(0, math.nan))
            readme = out / "README.md"
            if self.rank == 0 and (not readme.exists() or results.is_run_readme(readme)):
                results.write_readme(out, self.config.label())  # never over a user's README
        self.start_step = self.step
        self._write(out, "running")

    def _train(self, out: Path) -> None:
        """The loop from ``self.step`` to ``config.steps``, with checkpoints and Ctrl-C."""
        from tqdm import tqdm  # plain bar: tqdm.auto warns in notebooks without ipywidgets

        bar = tqdm(total=self.config.steps, initial=self.step, disable=not self.show_progress,
                   desc=self.config.label(), mininterval=1.0)
        try:
            with _StopRequest() as stop:
                while self.step < self.config.steps:
                    if self._stop_requested(stop):
                        self._interrupt(out)
                    self._one_step(out)
                    bar.update(1)
                    if self.show_progress and self.step % 10 == 0:
                        row = self.recorder.rows[-1]
                        bar.set_postfix(loss=f"{row['loss']:.3f}", linf=f"{row['linf']:.3f}")
                    if self.step % self.config.checkpoint_every == 0:
                        self._save_checkpoint(out)
                        self._write(out, "running")
        except KeyboardInterrupt as err:
            if isinstance(err, RunInterrupted):
                raise
            # a second Ctrl-C, mid-step: the model may be half-updated, so no checkpoint now;
            # the rows kept so far are whole, and resuming recomputes them identically
            self._write(out, "interrupted")
            raise RunInterrupted(f"interrupted during step {self.recorder.rows[-1]['step'] + 1} "
                                 f"({self._where(out)})", self.checkpoint_step) from None
        finally:
            bar.close()

    def _stop_requested(self, stop: _StopRequest) -> bool:
        if self.world == 1:
            return stop.requested
        flag = torch.tensor([float(stop.requested)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)  # every rank stops at the same step
        return bool(flag.item())

    def _one_step(self, out: Path) -> None:
        """Step t = self.step + 1, with the divergence guard before anything is kept."""
        t = self.step + 1
        loss = self.compute_gradient(t)
        if not math.isfinite(loss):
            self._diverge(out, t, f"the training loss at x_{t - 1} is {loss} (the step was not "
                                  f"applied)")
        self.optimizer.step()
        self.step = t
        row, per = self.recorder.measure(t, loss)
        if not (math.isfinite(row["linf"]) and math.isfinite(row["l2"])):
            self._diverge(out, t, f"the parameters are not finite after step {t}")
        if self.recorder.needs_validation(t):
            row["val_ppl"] = self.validation_perplexity()
            if not math.isfinite(row["val_ppl"]):
                self._diverge(out, t, f"the validation perplexity at x_{t} is {row['val_ppl']} "
                                      f"(mean cross-entropy above 709 overflows exp)")
        self.recorder.track_second_moment(self.optimizer)
        self.recorder.keep(row, per)

    def _where(self, out: Path) -> str:
        """What the folder holds now, for messages that must be true."""
        ckpt = (f"{out}/checkpoint.pt holds step {self.checkpoint_step}"
                if self.checkpoint_step is not None else "no checkpoint was written")
        return (f"{out}/metrics.csv and run.json (status '{self.written_status}') hold steps "
                f"0..{self.written_step}; {ckpt}")

    def _diverge(self, out: Path, t: int, reason: str) -> None:
        self._write(out, "diverged", divergence=dict(step=t, reason=reason))
        raise DivergedError(f"{self.config.label()} diverged at step {t}: {reason}. "
                            f"{self._where(out)}",
                            t, reason, self.checkpoint_step)

    def _interrupt(self, out: Path) -> None:
        self._save_checkpoint(out)
        self._write(out, "interrupted")
        raise RunInterrupted(f"interrupted after step {self.step} ({self._where(out)})",
                             self.checkpoint_step)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return platform.processor() or platform.machine()


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


def train(config: TrainConfig, out_dir, resume: bool = False, data_dir=None, corpus=None,
          show_progress: bool = True, overwrite: bool = False, **overrides) -> dict:
    """Convenience: ``Trainer(replace(config, **overrides)).run(out_dir, resume, overwrite)``."""
    if overrides:
        valid = {f.name for f in fields(TrainConfig)}
        bad = set(overrides) - valid
        if bad:
            raise ValueError(f"unknown settings {sorted(bad)}")
        config = replace(config, **overrides)
    return Trainer(config, data_dir=data_dir, corpus=corpus,
                   show_progress=show_progress).run(out_dir, resume=resume, overwrite=overwrite)


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
    return results.read_run_json(out_dir)
