r"""The Lemma 4.3 prediction for a PTB run, the ‖x‖∞ figures, the runs table, and the rotation runs' learning-rate choice.

Results are read by :mod:`.results` (:class:`~.results.Run`, :func:`~.results.load_runs`, both
re-exported here); like it, this module needs neither torch nor a plotting backend (the
command line chooses one).

:func:`run_prediction` evaluates bound (5) of Lemma 4.3 (our derived form, chapter
``ch-adam-bounds``) for the whole parameter vector:

.. math::

    \begin{aligned}
    \|x_t\|_\infty \le q^t\|x_0\|_\infty &+ \frac1\lambda\Big((1-q^t)\Big[1-q^t\\
    &+ \frac{\beta_2-\beta_1}{1-\beta_2}\lambda\eta\Big(S_t + \Pi_t \ln\frac{V_t}{v^{\min}_t}\Big)\Big]\Big)^{1/2},
    \end{aligned}

    q = 1-\lambda\eta,

with :math:`S_t = \sum_{s\le t} q^{t-s}\beta_1^{s-1}`, :math:`\Pi_t = (1-q^t)/(1-q)` (replaced by
:math:`\min\{(1-q^t)/(1-q), (1-\beta_1^t)/(q-\beta_1)\}` when :math:`q>\beta_1`), and
:math:`\ln(V_t/v^{\min}_t)` the largest over coordinates of the log ratio of the largest to the
smallest :math:`(\sqrt{v_s}+\epsilon)^2` seen so far (recorded by the trainer).  The bound is
increasing in the log ratio, so using the largest one bounds every coordinate.  For
:math:`\beta_1=\beta_2` it is :math:`q^t\|x_0\|_\infty + (1-q^t)/\lambda`, whatever the gradients.
It applies to AdamW only (without bias correction); Adam and Adam-ℓ2 have no such cap.

:func:`lemma_4_3_path` evaluates the same bound at every logged step with the run's final log
ratio, which bounds the log ratio of every earlier step (the trainer's :math:`V_t` and
:math:`v^{\min}_t` are running extremes).  :func:`sharp_path` is the bound of proposition
``prop-sharp-radius`` (chapter ``ch-check-your-run``) at every step, for AdamW with or without
bias correction (PyTorch's form), :math:`\beta_1^2<\beta_2`, :math:`\epsilon=0`:

.. math::

    \|x_t\|_\infty \le q^t\|x_0\|_\infty + (1-q^t)\,U/\lambda,

with :math:`U = M` of :func:`implicit_bias.bounds.max_update_size` without correction and
:math:`U=\sup_{s\le T}\theta_sM_s` of :func:`implicit_bias.bounds.bias_corrected_update_size`
with it; both are 1 for :math:`\beta_1=\beta_2`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .. import bounds
from .configs import BETAS, WEIGHT_DECAYS
from .results import Run, load_runs

__all__ = ["lemma_4_3_path", "sharp_path", "envelope_ratio", "plot_linf",
           "plot_linf_axes", "plot_family_axes", "plot_adamw_pair_axes", "protocol_table",
           "run_prediction", "runs_table", "seeds_table", "best_learning_rates",
           "steps_to_loss"]  # Run, load_runs: see results


def run_prediction(run: Run) -> float:
    """Lemma 4.3's bound on the run's final ‖x‖∞ (NaN unless AdamW without bias correction)."""
    c = run.config
    if c.optimizer != "adamw" or c.bias_correction or c.beta1 > c.beta2:
        return math.nan
    return float(bounds.iterate_bound_from_log_range(
        betas_of(run), c.lr, c.weight_decay, run.summary.steps_done,
        run.summary.log_v_ratio, x0_norm=run.summary.initial_linf))


def lemma_4_3_path(run: Run) -> np.ndarray:
    """Bound (5) of Lemma 4.3 on ‖x_t‖∞ at every logged step of an AdamW run without bias
    correction and with β1 ≤ β2, using the run's final ln(V/v_min) (see the module docstring)."""
    c, m = run.config, run.metrics
    if c.optimizer != "adamw" or c.bias_correction or c.beta1 > c.beta2:
        raise ValueError(f"{run.label}: Lemma 4.3 needs AdamW without bias correction and "
                         f"beta1 <= beta2")
    return bounds.iterate_bound_from_log_range(betas_of(run), c.lr, c.weight_decay, m["step"],
                                               run.summary.log_v_ratio, x0_norm=m["linf"][0])


def sharp_path(run: Run) -> np.ndarray:
    """The sharp bound q^t‖x_0‖∞ + (1 - q^t) U/λ of prop-sharp-radius at every logged step of an
    AdamW run with β1² < β2 and ε = 0, bias-corrected or not (see the module docstring)."""
    c, m = run.config, run.metrics
    betas = betas_of(run)
    if c.optimizer != "adamw" or c.eps != 0 or c.weight_decay <= 0:
        raise ValueError(f"{run.label}: the sharp radius needs AdamW with eps = 0 and decay > 0")
    size = (bounds.bias_corrected_update_size(betas, steps=int(m["step"][-1]))
            if c.bias_correction else bounds.max_update_size(betas))
    if not math.isfinite(size):
        raise ValueError(f"{run.label}: no sharp radius for beta1^2 >= beta2")
    qt = (1.0 - c.lr * c.weight_decay) ** m["step"]
    return qt * m["linf"][0] + (1.0 - qt) * size / c.weight_decay


def envelope_ratio(run: Run) -> float:
    r"""Largest ratio over :math:`t\ge1` of :math:`\|x_t\|_\infty` to Lemma 4.3's every-step bound
    for :math:`\beta_1=\beta_2`, :math:`q^t\|x_0\|_\infty+(1-q^t)/\lambda` (at most 1 if the lemma
    holds; t = 0 is equality).  With bias correction the update is still at most 1 in size
    (remark ``rem-bias-correction``), so the same bound holds."""
    c, m = run.config, run.metrics
    if c.optimizer != "adamw" or c.beta1 != c.beta2:
        raise ValueError(f"{run.label}: the every-step bound needs AdamW with beta1 = beta2")
    bound = bounds.iterate_bound_from_log_range(betas_of(run), c.lr, c.weight_decay, m["step"],
                                                0.0, x0_norm=m["linf"][0])
    return float(np.max(m["linf"][1:] / bound[1:]))


#: line colour of AdamW per (beta1, beta2); baselines use plotting.OPTIMIZER_COLORS
BETA_COLORS = {(0.99, 0.99): "#d62728", (0.999, 0.999): "#8c1c13", (0.9, 0.95): "#ff7f0e",
               (0.9, 0.999): "#9467bd"}
#: line style of the baselines per (beta1, beta2)
BETA_STYLES = {(0.99, 0.99): "-", (0.9, 0.999): "--", (0.999, 0.999): ":", (0.9, 0.95): "-."}


def betas_of(run: Run) -> tuple[float, float]:
    return (run.config.beta1, run.config.beta2)


def describe(run: Run) -> str:
    """``AdamW β=(0.99, 0.99)``-style legend text."""
    from ..plotting import OPTIMIZER_LABELS

    b1, b2 = betas_of(run)
    return f"{OPTIMIZER_LABELS[run.family]} β=({b1:g}, {b2:g})"


def pick(runs, family: str, betas, weight_decay: float | None = None, seed: int = 0) -> Run | None:
    """The run of a family (see :attr:`Run.family`) at the given betas, λ (``None``: any) and seed."""
    for r in runs:
        if r.family == family and betas_of(r) == tuple(betas) and r.config.seed == seed and (
                weight_decay is None or r.family == "adam"
                or r.config.weight_decay == weight_decay):
            return r
    return None


def plot_linf_axes(axes, runs, weight_decay: float, zoom_from: int, families=None) -> None:
    """‖x_t‖∞ against t on ``axes[0]`` (all steps) and ``axes[1]`` (t >= zoom_from), 1/λ dashed.

    Seed 0 is drawn solid and labelled; other seeds of the same setting thin, dotted, unlabelled.
    """
    from ..plotting import BOUND_STYLE, OPTIMIZER_COLORS, plain_log_ticks

    families = families or ("adamw", "adam", "adam-l2", "adam-l2-sum")
    for r in runs:
        if r.family not in families:
            continue
        if r.family != "adam" and r.config.weight_decay != weight_decay:
            continue
        b = betas_of(r)
        if r.family == "adamw":
            style = dict(color=BETA_COLORS.get(b, "k"), lw=1.6)
        else:
            style = dict(color=OPTIMIZER_COLORS[r.family], lw=1.1, ls=BETA_STYLES.get(b, "-"))
        first_seed = r.config.seed == 0
        if not first_seed:
            style.update(lw=1.0, ls=":")
        m = r.metrics
        for ax, first in zip(axes, (0, zoom_from)):
            keep = m["step"] >= first
            ax.plot(m["step"][keep], m["linf"][keep], label=describe(r) if first_seed else None,
                    **style)
    for ax in axes:
        ax.axhline(1 / weight_decay, **BOUND_STYLE, label=r"$1/\lambda$")
        ax.set_xlabel("step $t$")
    axes[0].set_ylabel(r"$\|x_t\|_\infty$")
    axes[0].set_yscale("log")
    plain_log_ticks(axes[0])
    axes[0].set_title(f"λ = {weight_decay:g}, all steps")
    axes[1].set_title(f"zoom: t ≥ {zoom_from}")


def plot_linf(runs, out_dir, zoom: int | None = None) -> list[Path]:
    """One PNG per λ: ‖x_t‖∞ against t with the 1/λ line, full range and zoom (default: 2nd half)."""
    import matplotlib.pyplot as plt  # the backend is the caller's choice (the CLI picks Agg)

    from ..plotting import use_book_style

    use_book_style()
    out_dir = Path(out_dir)
    written = []
    for lam in sorted({r.config.weight_decay for r in runs if r.family != "adam"}):
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
        steps = max(int(r.metrics["step"][-1]) for r in runs)
        plot_linf_axes(axes, runs, lam, zoom if zoom is not None else steps // 2)
        axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        path = out_dir / f"linf_wd{lam:g}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def plot_family_axes(ax, runs, family: str, seed: int = 0) -> None:
    """λ‖x_t‖∞ of one family at every β (colour) and λ (solid 1, dashed 2), the cap λ‖x‖∞ = 1."""
    from ..plotting import BOUND_STYLE, OPTIMIZER_LABELS, plain_log_ticks

    for r in runs:
        if r.family != family or r.config.seed != seed:
            continue
        lam = r.config.weight_decay or 1.0  # plain Adam: scaled by the λ = 1 cap
        b = betas_of(r)
        ax.plot(r.metrics["step"], lam * r.metrics["linf"], color=BETA_COLORS.get(b, "k"),
                ls="-" if lam == 1.0 else "--", lw=1.3,
                label=f"β=({b[0]:g}, {b[1]:g})" if lam == 1.0 else None)
    ax.axhline(1.0, **BOUND_STYLE)
    ax.set_yscale("log")
    plain_log_ticks(ax)
    ax.set_title(OPTIMIZER_LABELS[family])
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"$\lambda\|x_t\|_\infty$" if family != "adam" else r"$\|x_t\|_\infty$")


def plot_adamw_pair_axes(axes, runs, other, other_style: str = "--") -> None:
    """λ‖x_t‖∞ of AdamW at every β (colour), one panel per λ of ``axes``: the seed-0 run of
    ``runs`` solid and labelled, the same setting of ``other`` in ``other_style``; the cap at 1."""
    from ..plotting import BOUND_STYLE, plain_log_ticks

    for ax, lam in zip(axes, WEIGHT_DECAYS):
        for b in BETAS:
            for group, ls in ((runs, "-"), (other, other_style)):
                r = pick(group, "adamw", b, lam)
                ax.plot(r.metrics["step"], lam * r.metrics["linf"], color=BETA_COLORS[b], ls=ls,
                        label=f"β=({b[0]:g}, {b[1]:g})" if ls == "-" else None)
        ax.axhline(1.0, **BOUND_STYLE)
        ax.set_yscale("log")
        plain_log_ticks(ax)
        ax.set_title(f"λ = {lam:g}")
        ax.set_xlabel("step $t$")
    axes[0].set_ylabel(r"$\lambda\|x_t\|_\infty$")


def seeds_table(runs, seeds=(0, 1)) -> str:
    """Markdown table: per AdamW setting, λ‖x_T‖∞ and the final loss for each seed."""
    cols = " | ".join(f"λ‖x_T‖∞, seed {s}" for s in seeds)
    loss_cols = " | ".join(f"loss, seed {s}" for s in seeds)
    head = (f"| β | λ | {cols} | {loss_cols} |\n|---|---|"
            + "---|" * (2 * len(seeds)) + "\n")
    rows = []
    settings = sorted({(betas_of(r), r.config.weight_decay) for r in runs if r.family == "adamw"},
                      key=lambda bw: (bw[1], bw[0]))
    for b, lam in settings:
        picked = [pick(runs, "adamw", b, lam, seed=s) for s in seeds]
        norms = " | ".join("—" if r is None else f"{lam * r.summary.final_linf:.3f}" for r in picked)
        losses = " | ".join("—" if r is None else f"{r.summary.final_loss:.3f}" for r in picked)
        rows.append(f"| ({b[0]:g}, {b[1]:g}) | {lam:g} | {norms} | {losses} |")
    return head + "\n".join(rows)


def protocol_table(plain, corrected, seeds=(0, 1)) -> str:
    """Markdown table: per AdamW setting, λ‖x_T‖∞, λ·max over the second half and the final loss
    of Algorithm 1 (``plain``) next to PyTorch's bias-corrected AdamW (``corrected``), one
    value per seed, ``—`` where a run is missing."""
    def cells(group, b, lam, key, scale):
        picked = [pick(group, "adamw", b, lam, seed=s) for s in seeds]
        values = ("—" if r is None else f"{scale * getattr(r.summary, key):.3f}" for r in picked)
        return ", ".join(values)  # key: a RunSummary field name

    head = ("| β | λ | λ‖x_T‖∞, Alg. 1 | λ‖x_T‖∞, PyTorch | λ·max ‖x_t‖∞ (2nd half), Alg. 1 | "
            "λ·max ‖x_t‖∞ (2nd half), PyTorch | loss, Alg. 1 | loss, PyTorch |\n"
            "|---|---|---|---|---|---|---|---|\n")
    rows = []
    for lam in WEIGHT_DECAYS:
        for b in BETAS:
            row = [f"({b[0]:g}, {b[1]:g})", f"{lam:g}"]
            for key, scale in (("final_linf", lam), ("max_linf_second_half", lam), ("final_loss", 1)):
                row += [cells(plain, b, lam, key, scale), cells(corrected, b, lam, key, scale)]
            rows.append("| " + " | ".join(row) + " |")
    return head + "\n".join(rows)


def runs_table(runs) -> str:
    """Markdown table: per run 1/λ, ‖x‖∞ (initial, max over the 2nd half, final), Lemma 4.3's
    bound (5) with the measured ln(V/v_min), final loss, and the tensor attaining ‖x_T‖∞."""
    head = ("| run | λ | 1/λ | max ‖x‖∞, 2nd half | final ‖x‖∞ | Lemma 4.3 bound (5) | "
            "final loss | tensor attaining ‖x‖∞ |\n|---|---|---|---|---|---|---|---|\n")
    rows = []
    for r in runs:
        s, lam = r.summary, r.config.weight_decay
        bound = run_prediction(r)
        rows.append(f"| {describe(r)} | {lam:g} | {'∞' if lam == 0 else f'{1 / lam:g}'} | "
                    f"{s.max_linf_second_half:.3f} | {s.final_linf:.3f} | "
                    f"{'—' if math.isnan(bound) else f'{bound:.3f}'} | {s.final_loss:.3f} | "
                    f"`{short_name(s.final_linf_tensor)}` |")
    return head + "\n".join(rows)


def short_name(name: str) -> str:
    """``transformer_encoder.layers.1.norm2.weight`` -> ``layers.1.norm2.weight``."""
    return name.replace("transformer_encoder.", "")


# ---------- the rotation runs (chapter ch-rotation) ----------
def best_learning_rates(runs) -> dict:
    """``{(optimizer, rotated): run}``: per optimizer and basis, the run with the lowest final
    training loss among the learning rates whose runs completed in *every* basis (a learning
    rate that diverges in one basis is dropped from both, so that float32 round-off at the edge
    of stability cannot pick different rates for bases that are the same problem; ties go to the
    smaller learning rate).  ``runs``: one seed's runs (:class:`~implicit_bias.ptb.results.Run`)."""
    def finished(run):
        return run.complete and math.isfinite(run.summary.final_loss)

    failed = {(r.config.optimizer, r.config.lr) for r in runs if not finished(r)}
    best = {}
    for run in sorted(runs, key=lambda r: r.config.lr):
        if (run.config.optimizer, run.config.lr) in failed:
            continue
        key = (run.config.optimizer, run.config.rotated)
        if key not in best or run.summary.final_loss < best[key].summary.final_loss:
            best[key] = run
    return best


def steps_to_loss(run: Run, threshold: float) -> int | None:
    r"""The first step :math:`t\ge1` whose recorded training loss (at :math:`x_{t-1}`) is at most
    ``threshold``; ``None`` if the run never gets there."""
    loss = np.asarray(run.metrics["loss"][1:], dtype=float)
    hits = np.flatnonzero(loss <= threshold)
    return int(hits[0]) + 1 if hits.size else None
