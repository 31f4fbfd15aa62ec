"""Full-batch PTB language modelling (Xie & Li 2024, §5.1): data, model, trainer, configs, CLI.

Submodules: :mod:`.data` (find/verify/tokenise PTB), :mod:`.model` (the PyTorch example's
transformer, chunked output layer + loss), :mod:`.trainer` (exact full-batch gradient, metrics,
checkpoints, resume, multi-process), :mod:`.configs` (the ``cpu`` and ``paper`` settings and
sweeps), :mod:`.analysis` (reading results, Lemma 4.3 prediction, plots).
Command line: ``python -m implicit_bias.ptb {run,sweep,plot} ...`` (chapter ``ch-ptb``).
"""
