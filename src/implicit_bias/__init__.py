"""implicit_bias: the mathematics and experiments of "Implicit Bias of AdamW: l-infinity Norm
Constrained Optimization" (Xie & Li, ICML 2024), as a reusable package.

Modules (imported on demand, so ``import implicit_bias`` stays light):

* :mod:`implicit_bias.validation` -- the argument checks every public function uses
* :mod:`implicit_bias.norms`      -- l_p norms, dual norms, steepest directions, LMOs (Section 2);
  matrix norms (spectral, nuclear, Frobenius) for the chapter beyond the paper
* :mod:`implicit_bias.history`    -- ``History``, the one result type of every runner
* :mod:`implicit_bias.steepest`   -- NSD-WD (Eq. 1), Eq. 2, Frank--Wolfe (Algorithm 2), runners,
  the six methods of Section 5.2
* :mod:`implicit_bias.problems`   -- convex test problems with smoothness per norm, Eq. 3
* :mod:`implicit_bias.reference`  -- cvxpy constrained minimum with a certified lower bound
* :mod:`implicit_bias.kkt`        -- KKT residual (Lemma 3.8), Frank--Wolfe gap, l_inf diagnostic
* :mod:`implicit_bias.nonconvex`  -- non-convex test losses (Rosenbrock, two-layer network)
* :mod:`implicit_bias.adamw`      -- the float64 reference AdamW / Adam-l2 in NumPy (whole history)
* :mod:`implicit_bias.counterexample` -- Appendix B.3: beta1 > beta2 breaks Theorem 1.1
* :mod:`implicit_bias.bounds`     -- Lemma 4.2 and Lemma 4.3 (how large Adam's updates can be)
* :mod:`implicit_bias.optim`      -- PyTorch AdamW (Algorithm 1), AdamL2, Lion,
  NormalizedSteepestDescent (SignGD, Signum, exact spectral descent)
* :mod:`implicit_bias.muon`       -- torch Muon's Newton--Schulz bound and implicit spectral radius
* :mod:`implicit_bias.margins`    -- maximum l_p / matrix-norm margins of separable data (beyond the paper)
* :mod:`implicit_bias.monitor`    -- the implicit constraint of your own model and optimizer, in a training loop
* :mod:`implicit_bias.ptb`        -- Penn Treebank data, transformer, full-batch trainer, CLI
* :mod:`implicit_bias.report`     -- provenance header for the book and saved results
* :mod:`implicit_bias.plotting`   -- the book's one plotting style
* :mod:`implicit_bias.chapter`    -- what the chapters share: seeding, Markdown tables, tolerances
"""

from importlib import import_module as _import_module

__version__ = "0.1.0"

_SUBMODULES = {
    "norms", "steepest", "optim", "report", "plotting", "problems", "reference", "kkt",
    "bounds", "adamw", "ptb", "nonconvex", "counterexample", "validation", "history", "muon",
    "monitor", "margins", "separable", "chapter",
}


def __getattr__(name):
    if name in _SUBMODULES:
        return _import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
