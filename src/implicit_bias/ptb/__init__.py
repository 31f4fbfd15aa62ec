"""Full-batch PTB language modelling (Xie & Li 2024, §5.1): data, model, trainer, configs, CLI.

Submodules: :mod:`.configs` (``TrainConfig``, the ``cpu`` and ``paper`` settings and sweeps; no
torch), :mod:`.results` (the on-disk format of a run: metrics.csv, run.json, reading, ``Run``,
``load_runs``, the committed results; no torch), :mod:`.data` (find/verify/tokenise PTB),
:mod:`.model` (the PyTorch example's transformer, chunked output layer + loss), :mod:`.trainer`
(exact full-batch gradient, recorder, checkpoints, resume, divergence guard, multi-process),
:mod:`.analysis` (Lemma 4.3 prediction, plots, tables; no torch).
Command line: ``python -m implicit_bias.ptb {run,sweep,plot} ...`` (chapter ``ch-ptb``).
"""
