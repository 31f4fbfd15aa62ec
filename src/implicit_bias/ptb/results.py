r"""The on-disk format of a PTB run, and reading it back (no torch needed).

A run folder (named by :meth:`.configs.TrainConfig.label`) holds

* ``metrics.csv``: one row per step :math:`t = 0, 1, \dots` with the columns of
  :data:`~implicit_bias.ptb.results.METRIC_COLUMNS`, described in :data:`~implicit_bias.ptb.results.COLUMNS`.  Row :math:`t` holds the loss at
  :math:`x_{t-1}` (the point whose gradient made step :math:`t`; ``nan`` at :math:`t=0`) and the
  norms of :math:`x_t`;
* ``tensor_linf.csv``: ``step`` and the ℓ∞ norm of every parameter tensor, every
  ``tensor_log_every`` steps and at the last one;
* ``tensor_spectral.csv`` (``lion`` and ``muon`` runs only): ``step`` and the spectral norm
  :math:`\sigma_{\max}` of every 2-D tensor, at the same steps;
* ``run.json``: ``config`` (every setting), ``label``, ``status`` (:data:`~implicit_bias.ptb.results.STATUSES`), ``summary``,
  ``timing`` (summed over the sessions that produced the kept steps), ``provenance``, and
  ``divergence`` when the run diverged;
* ``README.md``: what the columns mean (:func:`write_readme`);
* ``checkpoint.pt``: the state to resume from (written by :mod:`.trainer`; never committed).

A run read back is a :class:`~implicit_bias.ptb.results.Run`, whose parts are typed:
``config`` a :class:`~implicit_bias.ptb.configs.TrainConfig`, ``summary`` a
:class:`~implicit_bias.ptb.results.RunSummary`, ``timing`` a
:class:`~implicit_bias.ptb.results.RunTiming`; a misspelt name is an ``AttributeError`` where it
is written, not a ``KeyError`` at plot time.  What a folder holds (empty, running, complete,
another configuration, ...) is decided by one function,
:func:`~implicit_bias.ptb.results.folder_state`, for the trainer, the command line and the sweep.

Runs written before ``status`` existed count as complete when their recorded steps equal
their configured steps; a setting or a timing key added after a run.json was written takes its
default there (see :class:`~implicit_bias.ptb.results.RunTiming`).  Reading is strict: a corrupt
``run.json`` (or one with keys this version does not know) or a truncated ``metrics.csv`` raises
:class:`~implicit_bias.ptb.results.ResultsError` naming the file and what to do, never a result
with missing rows.  This module imports neither torch nor matplotlib, so the ``plot`` command
and the book's analysis stay light.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from .configs import TrainConfig, config_differences

__all__ = ["METRIC_COLUMNS", "COLUMNS", "STATUSES", "FOLDER_STATES", "RESULTS_ENV", "RUN_FILES",
           "ResultsError", "Run", "RunSummary", "RunTiming", "FolderState", "folder_state",
           "load_runs", "read_metrics", "read_run_json", "write_csv", "write_json",
           "write_readme", "committed_results_dir", "repository_path"]

#: the columns of ``metrics.csv``, in order
METRIC_COLUMNS = ("step", "loss", "linf", "linf_tensor", "l2", "val_ppl")
#: what each column of ``metrics.csv`` means (written into every run folder's README)
COLUMNS = {
    "step": "t, the number of optimizer steps taken (row 0 is the initial point x_0)",
    "loss": "mean cross-entropy over the training tokens at x(t-1), the point whose gradient "
            "made step t (nan at t = 0)",
    "linf": "||x_t||_inf, the largest absolute parameter after step t",
    "linf_tensor": "name of the parameter tensor holding that largest coordinate",
    "l2": "||x_t||_2 over all parameters",
    "val_ppl": "validation perplexity exp(mean cross-entropy) at x_t, every eval_every steps "
               "and at the last step (nan elsewhere)",
}
#: ``running`` (being written), ``interrupted`` (Ctrl-C, resumable), ``diverged``, ``complete``
STATUSES = ("running", "interrupted", "diverged", "complete")
#: the files a run writes; a folder holding any of them is a run folder (a README.md alone is
#: not enough, since a user's folder may have its own)
RUN_FILES = ("run.json", "metrics.csv", "tensor_linf.csv", "tensor_spectral.csv", "checkpoint.pt")
README_TITLE = "# PTB run `"
#: environment variable naming a copy of ``book/results/ptb`` (see :func:`committed_results_dir`)
RESULTS_ENV = "IMPLICIT_BIAS_RESULTS"


class ResultsError(ValueError):
    """A results folder or file is missing, corrupt or inconsistent (the message says which)."""


# ---------- writing ----------
def _fmt(value) -> str:
    if isinstance(value, float):
        return repr(value)  # shortest round-trip repr: resumed and fresh runs write equal text
    return str(value)


def write_csv(path, columns, rows) -> None:
    """Write ``rows`` (dicts) under ``columns``; atomic, so a kill never leaves half a file."""
    path = Path(path)
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_fmt(row[c]) for c in columns])
    os.replace(tmp, path)


def write_json(path, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically."""
    path = Path(path)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def is_run_readme(path) -> bool:
    """Whether ``path`` is a README written by :func:`write_readme` (safe to replace)."""
    path = Path(path)
    return path.is_file() and path.read_text(errors="replace").startswith(README_TITLE)


def write_readme(directory, label: str) -> None:
    """A short ``README.md`` saying what each file and column of the run folder means."""
    lines = [f"{README_TITLE}{label}`", "",
             "Written by `python -m implicit_bias.ptb` (module `implicit_bias.ptb.results`).", "",
             "`metrics.csv`, one row per step t (row t holds the loss at x_{t-1} and the norms "
             "of x_t):", ""]
    lines += [f"* `{name}`: {text}" for name, text in COLUMNS.items()]
    lines += ["", "`tensor_linf.csv`: `step` and ||.||_inf of every parameter tensor.",
              "`tensor_spectral.csv` (lion and muon runs only): `step` and the spectral norm "
              "sigma_max of every 2-D tensor.",
              "`run.json`: configuration, status (running / interrupted / diverged / complete), "
              "summary, timing, provenance.",
              "`checkpoint.pt`: the state `--resume` continues from.", ""]
    (Path(directory) / "README.md").write_text("\n".join(lines))


# ---------- reading ----------
def read_metrics(path) -> dict[str, np.ndarray]:
    """Columns of a ``metrics.csv`` (or ``tensor_linf.csv``) as arrays (text columns as str).

    Raises :class:`~implicit_bias.ptb.results.ResultsError` if the file is missing, empty, or truncated (a last line
    without its end, or a row with the wrong number of fields).
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"{path} not found")
    text = path.read_text()
    rows = list(csv.reader(text.splitlines()))
    if not rows or not text.endswith("\n"):
        raise ResultsError(f"{path} is truncated (it does not end with a complete row): "
                           f"resume the run with --resume, or re-run it with --overwrite")
    header, body = rows[0], rows[1:]
    bad = [i + 2 for i, r in enumerate(body) if len(r) != len(header)]
    if bad:
        raise ResultsError(f"{path} is corrupt: line {bad[0]} has not {len(header)} fields")
    out = {}
    for name, col in zip(header, zip(*body) if body else [()] * len(header)):
        try:
            out[name] = np.array([float(v) for v in col])
        except ValueError:
            out[name] = np.array(col)
    return out


def read_run_json(directory) -> dict:
    """The parsed ``run.json`` of a run folder; :class:`~implicit_bias.ptb.results.ResultsError` if missing or corrupt."""
    path = Path(directory) / "run.json"
    if not path.is_file():
        raise ResultsError(f"{path} not found: {directory} is not a run folder")
    try:
        info = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ResultsError(f"{path} is corrupt (not JSON: {err}): restore it, or re-run the "
                           f"run with --overwrite") from None
    missing = [k for k in ("config", "label", "summary", "timing") if k not in info] \
        if isinstance(info, dict) else ["everything"]
    if missing:
        raise ResultsError(f"{path} is corrupt: it lacks {', '.join(missing)}")
    return info


def _recorded_status(info: dict) -> str:
    """``info["status"]``; for files written before it existed, ``complete`` iff all steps ran."""
    if "status" in info:
        return info["status"]
    return "complete" if info["summary"]["steps_done"] == info["config"]["steps"] else "running"


def _from_record(cls, record: dict, what: str, path):
    """``cls(**record)`` for a frozen dataclass; a key it lacks takes the field's default (keys
    added after the file was written); a missing required key or an unknown one raises
    :class:`~implicit_bias.ptb.results.ResultsError` naming the file."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(record) - known)
    if unknown:
        raise ResultsError(f"{path} is corrupt or from a newer version of the package: its "
                           f"{what} has unknown keys {', '.join(unknown)}")
    try:
        return cls(**record)
    except TypeError as err:  # a required key is missing (the message names it)
        raise ResultsError(f"{path} is corrupt: its {what} is incomplete ({err})") from None


@dataclass(frozen=True)
class RunSummary:
    r"""The ``summary`` of ``run.json``: one field per key the trainer writes.

    Over the kept rows :math:`t = 0, \dots, T` (:math:`T` = ``steps_done``, written by the
    trainer's recorder):

    * ``steps_done``: :math:`T`, the last step recorded;
    * ``initial_linf``, ``final_linf``: :math:`\|x_0\|_\infty`, :math:`\|x_T\|_\infty`;
    * ``max_linf``: :math:`\max_{t\le T}\|x_t\|_\infty`;
    * ``max_linf_second_half``: :math:`\max\{\|x_t\|_\infty : t \ge \text{steps}/2\}` over the
      configured steps (:math:`\|x_T\|_\infty` while no row is in the second half);
    * ``final_linf_tensor``: the name of the tensor holding the largest coordinate of :math:`x_T`;
    * ``final_l2``: :math:`\|x_T\|_2`;
    * ``final_loss``: the training loss of the last step (at :math:`x_{T-1}`; ``nan`` if
      :math:`T = 0`);
    * ``final_val_ppl``: the last validation perplexity recorded (``nan`` if none);
    * ``log_v_ratio``: :math:`\max_i \ln(V_{T,i}/v^{\min}_{T,i})` of Lemma 4.3, the largest log
      ratio over coordinates of the largest to the smallest :math:`(\sqrt{v_s}+\epsilon)^2`;

    and, about the data and model (written by the trainer): ``n_params`` (parameters),
    ``vocab_size``, ``train_chunks`` (training chunks of ``seq_len`` tokens) and ``train_tokens``
    (the tokens they hold).  Every key is written by every version of the trainer, so none is
    optional; an unknown key is an error (:class:`~implicit_bias.ptb.results.ResultsError`), so
    that a key added to the trainer must be added here.
    """

    steps_done: int
    initial_linf: float
    final_linf: float
    max_linf: float
    max_linf_second_half: float
    final_linf_tensor: str
    final_l2: float
    final_loss: float
    final_val_ppl: float
    log_v_ratio: float
    n_params: int
    vocab_size: int
    train_chunks: int
    train_tokens: int


@dataclass(frozen=True)
class RunTiming:
    """The ``timing`` of ``run.json``, summed over the sessions that produced the kept steps.

    ``wall_time_s`` and ``cpu_time_s`` (seconds), ``world_size`` (processes), ``device`` (as
    torch names it, ``cpu`` or ``cuda:0``), ``device_name`` (the processor or GPU model),
    ``resumed`` (more than one session), and ``sessions``, the number of sessions: ``None`` for
    runs written before it was recorded (some of the committed runs, all of one session).  A
    dataclass, like :class:`RunSummary`, because its keys are fixed and few.
    """

    wall_time_s: float
    cpu_time_s: float
    world_size: int
    device: str
    resumed: bool
    device_name: str
    sessions: int | None = None


class Run:
    """A run read from its folder (the files are described in the module docstring).

    Attributes: ``dir`` (the folder), ``label``, ``status`` (one of
    :data:`~implicit_bias.ptb.results.STATUSES`), ``config``
    (:class:`~implicit_bias.ptb.configs.TrainConfig`; a setting missing from an older run.json
    takes its default), ``summary`` (:class:`RunSummary`), ``timing`` (:class:`RunTiming`),
    ``metrics`` (the columns of ``metrics.csv`` as arrays, see :func:`read_metrics`),
    ``tensor_linf`` (``tensor_linf.csv``: ``step`` and one column per parameter tensor),
    ``tensor_spectral`` (``tensor_spectral.csv``: ``step`` and one column per 2-D tensor;
    ``None`` when the run did not write it, i.e. unless its optimizer is ``lion`` or ``muon``),
    and ``info``, the raw ``run.json`` dict, for what has no type here: ``provenance`` and, for
    a diverged run, ``divergence`` (``step`` and ``reason``).

    The metrics are checked against the summary (steps 0..steps_done, the same final
    ‖x‖∞), so a truncated or mixed-up file raises :class:`~implicit_bias.ptb.results.ResultsError`
    instead of plotting a shorter run.
    """

    def __init__(self, directory):
        self.dir = Path(directory)
        self.info = info = read_run_json(self.dir)
        path = self.dir / "run.json"
        self.config: TrainConfig = _from_record(TrainConfig, info["config"], "config", path)
        self.summary: RunSummary = _from_record(RunSummary, info["summary"], "summary", path)
        self.timing: RunTiming = _from_record(RunTiming, info["timing"], "timing", path)
        self.label: str = info["label"]
        self.status: str = _recorded_status(info)
        self.metrics = read_metrics(self.dir / "metrics.csv")
        self._check_metrics()
        self.tensor_linf = read_metrics(self.dir / "tensor_linf.csv")
        spectral = self.dir / "tensor_spectral.csv"
        self.tensor_spectral = read_metrics(spectral) if spectral.is_file() else None

    def _check_metrics(self) -> None:
        steps, done = self.metrics.get("step", np.array([])), self.summary.steps_done
        if not np.array_equal(steps, np.arange(done + 1)) or \
                self.metrics["linf"][-1] != self.summary.final_linf:
            raise ResultsError(
                f"{self.dir / 'metrics.csv'} does not match run.json ({len(steps)} rows, "
                f"run.json says steps 0..{done}): the file is truncated or from another run; "
                f"resume the run with --resume, or re-run it with --overwrite")

    @property
    def complete(self) -> bool:
        """Whether the run ran all its steps (``status == "complete"``)."""
        return self.status == "complete"

    @property
    def family(self) -> str:
        """``adamw``, ``adam``, ``adam-l2`` or ``adam-l2-sum`` (the plotting colour key), or the
        optimizer's name for the others (``lion``, ``muon``)."""
        if self.config.optimizer == "adam-l2" and self.config.loss_reduction == "sum":
            return "adam-l2-sum"
        return self.config.optimizer

    def __repr__(self) -> str:
        return f"Run({self.label!r}, {self.status})"


def load_runs(paths) -> list[Run]:
    """Every run under the given folders (a run folder, or a folder of run folders).

    Raises :class:`~implicit_bias.ptb.results.ResultsError` for a folder that does not exist or holds no run, so a
    wrong path is an error and never an empty list.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    runs = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise ResultsError(f"results folder {path} does not exist" if not path.exists()
                               else f"{path} is a file, not a results folder")
        found = [path] if (path / "run.json").is_file() else sorted(
            p.parent for p in path.glob("*/run.json"))
        if not found:
            raise ResultsError(f"no runs in {path}: neither it nor its subfolders hold a run.json")
        runs.extend(Run(p) for p in found)
    return runs


def repository_path(relative) -> Path:
    """``<repository>/relative`` for a package used from its git checkout (or editable install).

    Found from this file, not from the working directory, so that a chapter's notebook runs
    from any folder.  Raises :class:`~implicit_bias.ptb.results.ResultsError` if the file is not there.
    """
    path = Path(__file__).resolve().parents[3] / relative
    if not path.exists():
        raise ResultsError(f"{path} not found: the package is not installed from a git checkout "
                           f"of the project. Clone the repository and install it with "
                           f"`pip install -e .`")
    return path


def committed_results_dir(name: str | None = None) -> Path:
    """The committed PTB results (``book/results/ptb``, or ``.../name``), wherever Python runs.

    ``$IMPLICIT_BIAS_RESULTS`` names a copy of ``book/results/ptb`` if set; otherwise the folder
    is found next to the package source (``<repository>/book/results/ptb`` for a checkout or an
    editable install, see :func:`repository_path`).
    """
    override = os.environ.get(RESULTS_ENV)
    relative = Path("book", "results", "ptb", *([name] if name else []))
    if not override:
        try:
            return repository_path(relative)
        except ResultsError as err:
            raise ResultsError(f"committed PTB results not found: {err}, or set {RESULTS_ENV} to "
                               f"a copy of its book/results/ptb folder") from None
    folder = Path(override) / name if name else Path(override)
    if not folder.is_dir():
        raise ResultsError(f"committed PTB results not found at {folder}: ${RESULTS_ENV}="
                           f"{override} does not hold it. Unset it to use the repository's "
                           f"book/results/ptb (with `pip install -e .` from a git checkout), or "
                           f"point it to a copy of that folder")
    return folder


# ---------- the state of a run folder: the one place that decides it ----------
#: the kinds of :class:`FolderState`, and what each means
FOLDER_STATES = {
    "empty": "no run files (the folder may not exist, or hold other files): a new run may start",
    "not-a-run": "the path is a file, not a folder",
    "unrecorded": "run files but no run.json (only the checkpoint can tell what ran)",
    "unreadable": "a corrupt run.json",
    "running": "recorded as running (being written, or killed): resumable",
    "interrupted": "recorded as interrupted (Ctrl-C): resumable",
    "diverged": "recorded as diverged: resuming would diverge again",
    "complete": "complete (with a configuration given: all of its steps)",
    "shorter": "complete, with fewer steps than the configuration given: resuming extends it",
    "longer": "more steps recorded than the configuration given",
    "different-config": "settings other than RESUMABLE differ from the configuration given",
}


@dataclass(frozen=True)
class FolderState:
    """What a run folder holds, from :func:`folder_state`.

    ``kind``: one of :data:`FOLDER_STATES`; ``detail``: a phrase for one-line messages
    (``"interrupted at step 4 of 6"``); ``steps_done``: the last step recorded in run.json (0
    when there is none).
    """

    kind: str
    detail: str = ""
    steps_done: int = 0


def folder_state(path, config: TrainConfig | None = None) -> FolderState:
    """The :class:`FolderState` of the folder ``path``, compared with ``config`` if given.

    Without ``config`` the kind is what the folder records (``empty``, ``not-a-run``,
    ``unrecorded``, ``unreadable``, or its status: ``running``, ``interrupted``, ``diverged``,
    ``complete``).  With ``config`` (the run about to start in it) a folder recording other
    settings is ``different-config`` (the settings of
    :data:`~implicit_bias.ptb.configs.RESUMABLE` may differ), a diverged run stays
    ``diverged``, and a run of ``steps_done`` steps is ``longer`` than ``config.steps``,
    ``complete`` at ``config.steps``, and ``shorter`` (if complete) or running / interrupted
    below it.  The trainer, the command line and the sweep decide what to do from this alone.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        return FolderState("not-a-run", f"{path} is a file, not a folder")
    if not path.is_dir() or not any((path / f).exists() for f in RUN_FILES):
        return FolderState("empty")
    if not (path / "run.json").is_file():
        return FolderState("unrecorded", "run files without run.json")
    try:
        info = read_run_json(path)
    except ResultsError as err:
        return FolderState("unreadable", str(err))
    done, status = info["summary"]["steps_done"], _recorded_status(info)
    if config is None:
        return FolderState(status, f"{status} at step {done}", done)
    return _compared_state(info, status, done, config)


def _compared_state(info: dict, status: str, done: int, config: TrainConfig) -> FolderState:
    """:func:`folder_state` of a readable run.json compared with the ``config`` about to run."""
    diff = config_differences(info["config"], config.to_dict())
    if diff:
        text = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in diff.items())
        return FolderState("different-config", f"its configuration differs ({text})", done)
    if status == "diverged":
        where = info.get("divergence", {}).get("step", done + 1)
        return FolderState("diverged", f"it diverged at step {where}", done)
    if done > config.steps:
        return FolderState("longer", f"it holds {done} steps, more than steps={config.steps}",
                           done)
    if done == config.steps and status == "complete":
        return FolderState("complete", f"complete ({done} steps)", done)
    kind = "shorter" if status == "complete" else status
    return FolderState(kind, f"{status} at step {done} of {config.steps}", done)
