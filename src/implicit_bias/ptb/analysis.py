r"""Reading PTB results, the Lemma 4.3 prediction for a run, and the ‖x‖∞ figures.

:func:`lemma_4_3_linf_bound` evaluates bound (5) of Lemma 4.3 (our derived form, chapter
``ch-adam-bounds``) for the whole parameter vector:

.. math::

    \|x_t\|_\infty \le q^t\|x_0\|_\infty + \frac1\lambda\sqrt{(1-q^t)\Big[1-q^t
    + \frac{\beta_2-\beta_1}{1-\beta_2}\lambda\eta\Big(S_t + \Pi_t \ln\frac{V_t}{v^{\min}_t}\Big)\Big]},
    \qquad q = 1-\lambda\eta,

with :math:`S_t = \sum_{s\le t} q^{t-s}\beta_1^{s-1}`, :math:`\Pi_t = (1-q^t)/(1-q)` (replaced by
:math:`\min\{(1-q^t)/(1-q), (1-\beta_1^t)/(q-\beta_1)\}` when :math:`q>\beta_1`), and
:math:`\ln(V_t/v^{\min}_t)` the largest over coordinates of the log ratio of the largest to the
smallest :math:`(\sqrt{v_s}+\epsilon)^2` seen so far (recorded by the trainer).  The bound is
increasing in the log ratio, so using the largest one bounds every coordinate.  For
:math:`\beta_1=\beta_2` it is :math:`q^t\|x_0\|_\infty + (1-q^t)/\lambda`, whatever the gradients.
It applies to AdamW only (without bias correction); Adam and Adam-ℓ2 have no such cap.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .trainer import read_metrics

__all__ = ["lemma_4_3_linf_bound", "load_runs", "plot_linf", "run_prediction", "Run"]


def lemma_4_3_linf_bound(lr: float, weight_decay: float, beta1: float, beta2: float, t: int,
                         log_v_ratio: float, x0_linf: float) -> float:
    r"""Bound (5) of Lemma 4.3 on :math:`\|x_t\|_\infty` (see the module docstring).

    >>> round(lemma_4_3_linf_bound(1e-2, 1.0, 0.99, 0.99, 400, 5.0, 1.0), 6)  # beta1 = beta2
    1.0
    >>> lemma_4_3_linf_bound(1e-2, 2.0, 0.9, 0.95, 400, 0.0, 0.0) < 0.5 * 1.01
    True
    """
    if not 0 <= beta1 <= beta2 < 1:
        raise ValueError(f"Lemma 4.3 needs 0 <= beta1 <= beta2 < 1, got ({beta1}, {beta2})")
    lam_eta = lr * weight_decay
    q = 1.0 - lam_eta
    if not 0 < lam_eta <= 1:
        raise ValueError(f"need 0 < lr * weight_decay <= 1, got {lam_eta}")
    qt = q ** t
    s = np.arange(1, t + 1)
    s_t = float(np.sum(q ** (t - s) * beta1 ** (s - 1)))
    pi_t = (1 - qt) / (1 - q)
    if q > beta1:
        pi_t = min(pi_t, (1 - beta1 ** t) / (q - beta1))
    inner = 1 - qt + (beta2 - beta1) / (1 - beta2) * lam_eta * (s_t + pi_t * log_v_ratio)
    return qt * x0_linf + math.sqrt((1 - qt) * inner) / weight_decay


class Run:
    """A finished run: ``config``, ``summary``, ``timing`` (from ``run.json``) and ``metrics``."""

    def __init__(self, directory):
        self.dir = Path(directory)
        info = json.loads((self.dir / "run.json").read_text())
        self.info = info
        self.config, self.summary, self.timing = info["config"], info["summary"], info["timing"]
        self.label = info["label"]
        self.metrics = read_metrics(self.dir / "metrics.csv")
        tensors = self.dir / "tensor_linf.csv"
        self.tensor_linf = read_metrics(tensors) if tensors.is_file() else None

    @property
    def family(self) -> str:
        """``adamw``, ``adam``, ``adam-l2`` or ``adam-l2-sum`` (the plotting colour key)."""
        opt = self.config["optimizer"]
        if opt == "adam-l2" and self.config["loss_reduction"] == "sum":
            return "adam-l2-sum"
        return opt

    def __repr__(self) -> str:
        return f"Run({self.label!r})"


def run_prediction(run: Run) -> float:
    """Lemma 4.3's bound on the run's final ‖x‖∞ (NaN unless AdamW without bias correction)."""
    c = run.config
    if c["optimizer"] != "adamw" or c["bias_correction"] or c["beta1"] > c["beta2"]:
        return math.nan
    return lemma_4_3_linf_bound(c["lr"], c["weight_decay"], c["beta1"], c["beta2"],
                                run.summary["steps_done"], run.summary["log_v_ratio"],
                                run.summary["initial_linf"])


def load_runs(paths) -> list[Run]:
    """Every run under the given directories (a directory with ``run.json`` or its parents)."""
    runs = []
    for path in paths:
        path = Path(path)
        found = [path] if (path / "run.json").is_file() else sorted(
            p.parent for p in path.glob("*/run.json"))
        runs.extend(Run(p) for p in found)
    return runs


def plot_linf(runs, out_dir, zoom: int | None = None) -> list[Path]:
    """One PNG per (λ, reduction-free) group: ‖x_t‖∞ against t with the 1/λ line, full and zoomed.

    ``zoom`` is the first step of the right-hand panel (default: half the run).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plotting import BOUND_STYLE, OPTIMIZER_COLORS, use_book_style

    use_book_style()
    out_dir = Path(out_dir)
    written = []
    for lam in sorted({r.config["weight_decay"] for r in runs if r.config["optimizer"] != "adam"}):
        group = [r for r in runs if r.config["weight_decay"] == lam or r.config["optimizer"] == "adam"]
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
        for ax, start in zip(axes, (0, None)):
            for r in group:
                m = r.metrics
                first = zoom if zoom is not None else int(m["step"][-1]) // 2
                keep = m["step"] >= (start if start is not None else first)
                ax.plot(m["step"][keep], m["linf"][keep], lw=1.2,
                        color=OPTIMIZER_COLORS.get(r.family, None),
                        alpha=1.0 if r.family == "adamw" else 0.6,
                        label=f"{r.family} β=({r.config['beta1']:g}, {r.config['beta2']:g})")
            ax.axhline(1 / lam, **BOUND_STYLE, label=r"$1/\lambda$")
            ax.set_xlabel("step $t$")
            ax.set_ylabel(r"$\|x_t\|_\infty$")
            ax.set_yscale("log")
        axes[0].set_title(f"λ = {lam:g}: full run")
        axes[1].set_title("second half")
        axes[1].legend(fontsize=7, ncol=1, loc="center left", bbox_to_anchor=(1.0, 0.5))
        path = out_dir / f"linf_wd{lam:g}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
