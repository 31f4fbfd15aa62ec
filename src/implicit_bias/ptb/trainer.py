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
:func:`load_checkpoint`, and :class:`Trainer`, which sets them up and runs the loop.  Each concern
has a module of its own (``gradient``, ``evaluation``, ``recording``, ``tensor_logs``,
``checkpointing``, ``divergence``, ``interrupts``, ``timing``, ``devices``, ``distributed``,
``optimizers``, ``run_folder``); this one holds the loop and re-exports their public names.

Nothing computed is lost: a run never overwrites a run folder unless asked
(:class:`RunFolderExists`); any non-finite value (training loss, parameters, validation
perplexity) stops the run with the files written up to the last finite step and ``run.json``
marked ``diverged`` (:class:`DivergedError`); Ctrl-C finishes the current step, writes a
checkpoint and raises :class:`RunInterrupted`.
"""


from __future__ import annotations

import math
from dataclasses import fields, replace
from pathlib import Path

from . import devices, distributed, divergence, results, rotation, tensor_logs, timing
from .checkpointing import (checkpoint_path, load_checkpoint, restore, save_checkpoint,
                            seed_everything, training_state)
from .configs import TrainConfig
from .data import load_corpus, make_chunks
from .divergence import DivergedError
from .gradient import FullBatchGradient
from .interrupts import RunInterrupted, StopRequest
from .model import TransformerLM
from .optimizers import make_optimizer
from .recording import Recorder
from .run_folder import describe_folder, finished_run, prepare_folder, write_readme

# Re-exported: these lived in this module before it was split by concern, and callers import
# them from here.  TrainConfig, read_metrics, OPTIMIZERS and LOSS_REDUCTIONS stay importable from
# here for old callers too; each is documented where it lives.
from .configs import LOSS_REDUCTIONS, OPTIMIZERS  # noqa: F401
from .distributed import run_gloo  # noqa: F401
from .divergence import NonFiniteLossError  # noqa: F401
from .optimizers import MuonAdamW, is_hidden_matrix  # noqa: F401
from .results import METRIC_COLUMNS, read_metrics  # noqa: F401  (read_metrics: used by scripts)
from .run_folder import RunFolderExists  # noqa: F401

#: optimizers whose runs also record the spectral norm of every 2-D tensor
SPECTRAL_LOGGED = tensor_logs.SPECTRAL_LOGGED

__all__ = ["Trainer", "FullBatchGradient", "Recorder", "DivergedError", "NonFiniteLossError",
           "RunInterrupted", "RunFolderExists", "train", "save_checkpoint", "load_checkpoint",
           "make_optimizer", "MuonAdamW", "is_hidden_matrix"]


class Trainer:
    """One full-batch run.  ``Trainer(config).run(out_dir)``; see the module docstring.

    In a ``torchrun`` job (``WORLD_SIZE > 1``) the process group is initialised here (NCCL on
    CUDA, gloo on CPU) unless it already is; rank ``r`` of ``W`` takes chunks ``r, r+W, ...``.
    """

    def __init__(self, config: TrainConfig, data_dir=None, corpus=None, show_progress=True):
        self.config = config = config.validate()
        self.device = self._set_up_device(config)
        seed_everything(config.seed)
        self.corpus = corpus or load_corpus(data_dir, config.train_tokens, config.valid_tokens,
                                            vocab=config.vocab)
        inputs, targets = make_chunks(self.corpus.train, config.seq_len)
        valid = make_chunks(self.corpus.valid, config.seq_len)
        # token ids are small (15 MB at paper scale): keep them on the device
        inputs, targets, *valid = (t.to(self.device) for t in (inputs, targets, *valid))
        self.model = TransformerLM(self.corpus.vocab_size, config.d_model, config.n_heads,
                                   config.d_ff, config.n_layers,
                                   max_len=max(512, config.seq_len)).to(self.device)
        if config.rotated:  # the same initial network, other coordinates
            rotation.rotate_matrices(self.model, config.rotation_seed)
        self.gradient = FullBatchGradient(self.model, inputs, targets, *valid, config,
                                          self.rank, self.world)
        self.names = rotation.rotated_names(n for n, _ in self.model.named_parameters())
        self.params = self.gradient.params
        self.optimizer = make_optimizer(config, self.names, self.params)
        self.recorder = Recorder(self.names, self.params, config)
        self.show_progress = show_progress and self.rank == 0
        self.step = 0
        self.checkpoint_step: int | None = None  # the step checkpoint.pt holds, if written
        self.elapsed = dict(wall=0.0, cpu=0.0, sessions=0)  # of earlier sessions (resume)

    def _set_up_device(self, config: TrainConfig):
        """This process's device (its GPU under torchrun), after joining the process group."""
        device = devices.rank_device(config.device)
        self.rank, self.world = distributed.init_distributed(device)
        return devices.configure_device(device, config)

    # views kept for scripts and benchmarks
    inputs = property(lambda self: self.gradient.inputs)
    targets = property(lambda self: self.gradient.targets)

    def compute_gradient(self, step: int) -> float:
        """:meth:`FullBatchGradient.compute` (a method here so that tests can inject failures)."""
        return self.gradient.compute(step)

    def validation_perplexity(self) -> float:
        return self.gradient.validation_perplexity()

    # ---------- files ----------
    def _elapsed_now(self) -> dict:
        return timing.elapsed_since(self.elapsed, self._started)

    def _load(self, out: Path) -> None:
        state = load_checkpoint(checkpoint_path(out), self.device, self.config)
        self.step, self.elapsed = restore(state, self.model, self.optimizer, self.recorder)
        self.checkpoint_step = self.step

    def _save_checkpoint(self, out: Path) -> None:
        if self.rank == 0:
            save_checkpoint(checkpoint_path(out), training_state(
                self.config, self.step, self.model, self.optimizer, self._elapsed_now(),
                self.recorder))
        self.checkpoint_step = self.step
        distributed.barrier(self.world)

    def _run_json(self, status: str, **extra) -> dict:
        """run.json's dict: configuration, status, summary, timing, provenance, ``extra``."""
        elapsed = self._elapsed_now()
        return dict(config=self.config.to_dict(), label=self.config.label(), status=status,
                    summary=self.recorder.summary(
                        n_params=sum(p.numel() for p in self.params),
                        vocab_size=self.corpus.vocab_size,
                        train_chunks=int(self.inputs.shape[0]),
                        train_tokens=int(self.inputs.numel())),
                    timing=timing.timing_summary(elapsed, self.world, self.device),
                    provenance=self._provenance, **extra)

    def _write(self, out: Path, status: str, **extra) -> dict:
        """metrics.csv, tensor_linf.csv, then run.json (so run.json never runs ahead of the rows)."""
        result = self._run_json(status, **extra)
        if self.rank == 0:
            self.recorder.write(out)
            results.write_json(out / "run.json", result)
        self.written_step, self.written_status = self.recorder.rows[-1]["step"], status
        return result

    def _where(self, out: Path) -> str:
        """What the folder holds now, for messages that must be true."""
        return describe_folder(out, self.written_status, self.written_step, self.checkpoint_step)

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
        prepare_folder(out, resume, overwrite, self.rank, self.world)
        finished = finished_run(out, self.config, resume)
        if finished is not None:
            return finished
        self._start(out, resume)
        self._train(out)
        if self.step != self.checkpoint_step:
            self._save_checkpoint(out)
        return self._write(out, "complete")

    def _start(self, out: Path, resume: bool) -> None:
        """Load the checkpoint (resume) or record x_0; write the first files."""
        from ..report import provenance

        self._started = timing.clock()
        self._provenance = provenance(self.config.to_dict(), self.config.seed)
        if resume and checkpoint_path(out).is_file():
            self._load(out)
            if self.step > self.config.steps:
                raise ValueError(f"cannot resume {out}: its checkpoint holds step {self.step}, "
                                 f"more than steps={self.config.steps}")
            self.recorder.reopen()
        else:
            self.recorder.keep(*self.recorder.measure(0, math.nan))
            write_readme(out, self.config.label(), self.rank)
        self.start_step = self.step
        self._write(out, "running")

    def _train(self, out: Path) -> None:
        """The loop from ``self.step`` to ``config.steps``, with checkpoints and Ctrl-C."""
        from tqdm import tqdm  # plain bar: tqdm.auto warns in notebooks without ipywidgets

        bar = tqdm(total=self.config.steps, initial=self.step, disable=not self.show_progress,
                   desc=self.config.label(), mininterval=1.0)
        try:
            with StopRequest() as stop:
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

    def _stop_requested(self, stop: StopRequest) -> bool:
        if self.world == 1:
            return stop.requested
        return distributed.any_rank(stop.requested, self.device)  # every rank stops together

    def _one_step(self, out: Path) -> None:
        """Step t = self.step + 1, with the divergence guard before anything is kept."""
        t = self.step + 1
        loss = self.compute_gradient(t)
        self._diverge_if(out, t, divergence.loss_problem(loss, t))
        self.optimizer.step()
        self.step = t
        row, per = self.recorder.measure(t, loss)
        self._diverge_if(out, t, divergence.parameter_problem(row, t))
        if self.recorder.needs_validation(t):
            row["val_ppl"] = self.validation_perplexity()
            self._diverge_if(out, t, divergence.validation_problem(row, t))
        self.recorder.track_second_moment(self.optimizer)
        self.recorder.keep(row, per)

    def _diverge_if(self, out: Path, t: int, reason: str | None) -> None:
        """Stop the run at step ``t`` when ``reason`` (a divergence check's) is not ``None``."""
        if reason is not None:
            self._diverge(out, t, reason)

    def _diverge(self, out: Path, t: int, reason: str) -> None:
        self._write(out, "diverged", divergence=dict(step=t, reason=reason))
        raise DivergedError(divergence.divergence_message(self.config.label(), t, reason,
                                                          self._where(out)),
                            t, reason, self.checkpoint_step)

    def _interrupt(self, out: Path) -> None:
        self._save_checkpoint(out)
        self._write(out, "interrupted")
        raise RunInterrupted(f"interrupted after step {self.step} ({self._where(out)})",
                             self.checkpoint_step)


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
