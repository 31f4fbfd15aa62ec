"""PTB command line: every predictable mistake ends in one line and an exit code, nothing is lost.

Runs use a tiny preset ("tiny", added to the presets for the test) so that each takes ~1 s.
"""

import os
import shlex
import signal
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from implicit_bias.ptb import __main__ as cli
from implicit_bias.ptb import configs, results
from implicit_bias.ptb.trainer import Trainer

# every test (fixtures ptb_dir and tiny_config: tests/conftest.py)
pytestmark = pytest.mark.usefixtures("ptb_dir")

RUN = ["run", "--config", "tiny", "--optimizer", "adamw", "--beta1", "0.9", "--beta2", "0.95",
       "--weight-decay", "1", "--no-progress"]


@pytest.fixture(autouse=True)
def tiny_preset(monkeypatch, tiny_config):
    monkeypatch.setitem(configs.CONFIGS, "tiny", tiny_config())


def invoke(argv, capsys):
    """(exit code, stdout, stderr) of the command line, whether it returns or exits."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit_info:
        code = exit_info.code
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def metrics_bytes(folder: Path) -> tuple:
    return (folder / "metrics.csv").read_bytes(), (folder / "tensor_linf.csv").read_bytes()


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_config):
    """A complete tiny run (6 steps, the argv of RUN), made once."""
    out = tmp_path_factory.mktemp("finished") / "run"
    Trainer(tiny_config(), show_progress=False).run(out)
    return out


def _setup_none(tmp_path, finished):
    return tmp_path / "never"


def _setup_file(tmp_path, finished):
    (tmp_path / "f").write_text("not a folder\n")
    return tmp_path / "f"


def _setup_finished(tmp_path, finished):
    return finished


def _setup_empty_dir(tmp_path, finished):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def _setup_corrupt_json(tmp_path, finished):
    run = tmp_path / "corrupt"
    run.mkdir()
    for f in ("run.json", "metrics.csv"):
        (run / f).write_bytes((finished / f).read_bytes())
    (run / "run.json").write_text((finished / "run.json").read_text()[:200])
    return run


def _setup_truncated_csv(tmp_path, finished):
    run = tmp_path / "truncated"
    run.mkdir()
    (run / "run.json").write_bytes((finished / "run.json").read_bytes())
    (run / "metrics.csv").write_text((finished / "metrics.csv").read_text()[:-30])
    return run


def _setup_missing_rows(tmp_path, finished):
    run = _setup_truncated_csv(tmp_path, finished)
    lines = (finished / "metrics.csv").read_text().splitlines(keepends=True)
    (run / "metrics.csv").write_text("".join(lines[:-2]))  # whole rows missing
    return run


# (name, argv with OUT for the folder made by setup, setup, exit code, message)
BAD = [
    ("beta1 outside [0,1)", RUN + ["--beta1", "1.0", "--out", "OUT"], _setup_none, 2,
     "--beta1=1.0 is invalid: must be in [0, 1)"),
    ("negative beta2", RUN + ["--beta2", "-0.1", "--out", "OUT"], _setup_none, 2,
     "--beta2=-0.1 is invalid"),
    ("negative weight decay", RUN + ["--weight-decay", "-1", "--out", "OUT"], _setup_none, 2,
     "--weight-decay=-1.0 is invalid: must be finite and >= 0"),
    ("negative lr", RUN + ["--lr", "-0.001", "--out", "OUT"], _setup_none, 2,
     "--lr=-0.001 is invalid"),
    ("lr * lambda > 1", RUN + ["--weight-decay", "200", "--out", "OUT"], _setup_none, 2,
     "decay factor 1 - lr * weight_decay is negative"),
    ("not a number", RUN + ["--beta1", "abc", "--out", "OUT"], _setup_none, 2,
     "invalid float value: 'abc'"),
    ("unknown preset", RUN + ["--config", "huge", "--out", "OUT"], _setup_none, 2,
     "invalid choice: 'huge'"),
    ("threads -1", RUN + ["--threads", "-1", "--out", "OUT"], _setup_none, 2,
     "--threads=-1 is invalid: must be >= 0"),
    ("micro-batch 0", RUN + ["--micro-batch", "0", "--out", "OUT"], _setup_none, 2,
     "--micro-batch=0 is invalid: must be >= 1"),
    ("batch fraction 1.5", RUN + ["--batch-fraction", "1.5", "--out", "OUT"], _setup_none, 2,
     "--batch-fraction=1.5 is invalid: must be in (0, 1]"),
    ("negative steps", RUN + ["--steps", "-1", "--out", "OUT"], _setup_none, 2,
     "--steps=-1 is invalid"),
    ("unknown device", RUN + ["--device", "tpu", "--out", "OUT"], _setup_none, 2,
     "--device='tpu' is invalid: must be cpu, cuda or cuda:N"),
    ("resume and overwrite", RUN + ["--resume", "--overwrite", "--out", "OUT"], _setup_none, 2,
     "not allowed with argument"),
    ("out is a file", RUN + ["--out", "OUT"], _setup_file, 2, "is a file, not a folder"),
    ("out below a file", RUN + ["--out", "OUT/sub"], _setup_file, 2, "is a file, not a folder"),
    ("out not writable", RUN + ["--out", "/proc/implicit-bias-test/run"], _setup_none, 2,
     "is not writable"),
    ("run into a finished run", RUN + ["--optimizer", "adam", "--steps", "2", "--out", "OUT"],
     _setup_finished, 2, "already holds a run"),
    ("resume with another lr", RUN + ["--lr", "0.001", "--resume", "--out", "OUT"],
     _setup_finished, 2, "configuration differs (lr 0.01 -> 0.001)"),
    ("resume --steps below the recorded", RUN + ["--steps", "3", "--resume", "--out", "OUT"],
     _setup_finished, 2, "holds 6 steps, more than steps=3"),
    ("sweep with threads -1", ["sweep", "--config", "tiny", "--threads", "-1", "--out", "OUT"],
     _setup_none, 2, "--threads=-1 is invalid"),
    ("sweep shard 2/2", ["sweep", "--config", "tiny", "--shard", "2/2", "--out", "OUT"],
     _setup_none, 2, "need 0 <= K < N"),
    ("plot a missing folder", ["plot", "OUT"], _setup_none, 2, "does not exist"),
    ("plot a folder without runs", ["plot", "OUT"], _setup_empty_dir, 2, "no runs in"),
    ("plot a corrupt run.json", ["plot", "OUT"], _setup_corrupt_json, 2,
     "run.json is corrupt (not JSON"),
    ("plot a truncated metrics.csv", ["plot", "OUT"], _setup_truncated_csv, 2, "is truncated"),
    ("plot a metrics.csv missing rows", ["plot", "OUT"], _setup_missing_rows, 2,
     "does not match run.json"),
    ("plot several runs without --out", ["plot", "OUT", "OUT"], _setup_finished, 2,
     "2 folders given: say where the figures go with --out"),
]


@pytest.mark.parametrize("name,argv,setup,code,message", BAD, ids=[b[0] for b in BAD])
def test_bad_invocation_is_one_clear_line(name, argv, setup, code, message, tmp_path, finished,
                                          capsys):
    target = setup(tmp_path, finished)
    before = snapshot(finished)
    argv = [str(a).replace("OUT", str(target)) for a in argv]
    got, out, err = invoke(argv, capsys)
    assert got == code, (got, out, err)
    assert message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert snapshot(finished) == before  # nothing was touched
    assert not (tmp_path / "never").exists()


def test_empty_ptb_dir_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PTB_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    code, _, err = invoke(RUN + ["--out", tmp_path / "run"], capsys)
    assert code == 2 and "PTB file not found" in err and "PTB_DIR" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_refused(tmp_path, capsys):
    code, _, err = invoke(RUN + ["--device", "cuda", "--out", tmp_path / "run"], capsys)
    assert code == 2 and "--device cuda: this machine has no CUDA device" in err


def test_overwrite_refusal_leaves_files_byte_identical(finished, capsys):
    before = snapshot(finished)
    code, _, err = invoke(RUN + ["--optimizer", "adam", "--steps", "2", "--out", finished], capsys)
    assert code == 2 and str(finished) in err and "--resume" in err and "--overwrite" in err
    code, out, _ = invoke(RUN + ["--resume", "--out", finished], capsys)  # complete: a no-op
    assert code == 0 and "already complete (6 steps); nothing to do" in out
    assert snapshot(finished) == before


def test_overwrite_replaces_the_run(finished, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    for f in finished.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    (out / "linf_wd1.png").write_bytes(b"old figure")
    code, _, err = invoke(RUN + ["--optimizer", "adam", "--steps", "2", "--overwrite",
                                 "--out", out], capsys)
    assert code == 0, err
    assert results.Run(out).config.optimizer == "adam" and not (out / "linf_wd1.png").exists()


def _sigint_at(monkeypatch, step, label=None):
    """Send this process a real SIGINT during the gradient of ``step`` (of run ``label``)."""
    original = Trainer.compute_gradient

    def compute(self, t):
        if t == step and label in (None, self.config.label()):
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, t)

    monkeypatch.setattr(Trainer, "compute_gradient", compute)
    return original


def test_sigint_checkpoints_and_resumes_byte_identically(finished, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    original = _sigint_at(monkeypatch, 3)
    code, _, err = invoke(RUN + ["--out", out], capsys)
    assert code == 130, err
    assert "interrupted after step 3" in err and "checkpoint.pt holds step 3" in err
    resume = shlex.split(err.split("Continue with: ")[1])
    assert resume[-1] == "--resume" and "Traceback" not in err
    assert results.Run(out).status == "interrupted"
    monkeypatch.setattr(Trainer, "compute_gradient", original)
    code, _, err = invoke(resume[3:], capsys)  # the advice, as printed (without the prog)
    assert code == 0, err
    assert metrics_bytes(out) == metrics_bytes(finished)
    assert results.Run(out).timing.sessions == 2


def test_divergence_exits_3_keeps_files_and_gives_followable_advice(tmp_path, monkeypatch,
                                                                    capsys):
    out = tmp_path / "run"
    original = Trainer.compute_gradient
    monkeypatch.setattr(Trainer, "compute_gradient",
                        lambda self, t: float("nan") if self.config.lr == 1e-2 and t == 5
                        else original(self, t))
    code, _, err = invoke(RUN + ["--out", out], capsys)
    assert code == 3 and len(err.strip().splitlines()) == 1, err
    assert "diverged at step 5" in err and "checkpoint.pt holds step 4" in err
    run = results.Run(out)
    assert run.status == "diverged" and run.summary.steps_done == 4
    code, _, err2 = invoke(RUN + ["--resume", "--out", out], capsys)
    assert code == 2 and "diverged at step 5 and would diverge again" in err2
    retry = shlex.split(err.split("To try a lower learning rate: ")[1])
    assert "--lr" in retry and "0.001" in retry
    code, _, err3 = invoke(retry[3:], capsys)  # the advice works as printed
    assert code == 0, err3
    assert results.Run(Path(f"{out}-lr0.001")).complete


def _three_runs(name, seeds=None, batch_fraction=1.0):
    base = configs.get_config(name, batch_fraction=batch_fraction)
    return [replace(base, beta1=b1, beta2=b2) for b1, b2 in ((0.9, 0.95), (0.99, 0.99), (0.9, 0.9))]


def test_interrupted_sweep_is_completed_by_a_second_sweep(finished, tmp_path, monkeypatch,
                                                          capsys):
    monkeypatch.setattr(cli, "sweep_configs", _three_runs)
    sweep = ["sweep", "--config", "tiny", "--out", tmp_path, "--no-progress"]
    second = _three_runs("tiny")[1].label()
    original = _sigint_at(monkeypatch, 3, label=second)
    code, _, err = invoke(sweep, capsys)
    assert code == 130 and "Run the same sweep command again" in err
    monkeypatch.setattr(Trainer, "compute_gradient", original)
    code, out, err = invoke(sweep, capsys)
    assert code == 0, err
    assert "sweep: 1 new, 1 resumed, 1 complete, 0 diverged, 0 untouched" in out
    assert "resumed from step 3" in out
    assert metrics_bytes(tmp_path / _three_runs("tiny")[0].label()) == metrics_bytes(finished)
    assert all(r.complete for r in results.load_runs([tmp_path]))


def test_sweep_after_a_short_sweep_extends_the_runs(finished, tmp_path, monkeypatch, capsys):
    """The issue's `sweep --steps 1` then `sweep`: the second must not count 1-step runs as done."""
    monkeypatch.setattr(cli, "sweep_configs", lambda *a, **k: _three_runs(*a, **k)[:1])
    sweep = ["sweep", "--config", "tiny", "--out", tmp_path, "--no-progress"]
    assert invoke(sweep + ["--steps", "1"], capsys)[0] == 0
    code, out, _ = invoke(sweep, capsys)
    assert code == 0 and "resumed from step 1" in out
    assert metrics_bytes(tmp_path / _three_runs("tiny")[0].label()) == metrics_bytes(finished)
    code, out, _ = invoke(sweep, capsys)
    assert "1 complete" in out and "complete (6 steps), skipped" in out


def test_sweep_leaves_what_it_cannot_continue_untouched(finished, tmp_path, monkeypatch,
                                                        capsys):
    """folder_state decides: a file where a run folder should be, and a run of other settings,
    are reported and left as they are (exit 2), nothing trained."""
    monkeypatch.setattr(cli, "sweep_configs", lambda *a, **k: _three_runs(*a, **k)[1:])
    other, wrong = (c.label() for c in _three_runs("tiny")[1:])
    (tmp_path / other).mkdir()
    for f in finished.iterdir():  # the finished run has beta (0.9, 0.95), this folder (0.99, 0.99)
        (tmp_path / other / f.name).write_bytes(f.read_bytes())
    (tmp_path / wrong).write_text("not a folder\n")
    before = snapshot(tmp_path / other)
    code, out, _ = invoke(["sweep", "--config", "tiny", "--out", tmp_path, "--no-progress"], capsys)
    assert code == 2 and "0 new, 0 resumed, 0 complete, 0 diverged, 2 untouched" in out
    assert "its configuration differs (beta1 0.9 -> 0.99" in out and "is a file, not a folder" in out
    assert snapshot(tmp_path / other) == before
    assert (tmp_path / wrong).read_text() == "not a folder\n"


def test_plot_of_a_run_folder_writes_there(finished, tmp_path, capsys):
    code, out, err = invoke(["plot", finished, "--out", tmp_path / "figs"], capsys)
    assert code == 0, err
    assert (tmp_path / "figs" / "linf_wd1.png").is_file()


def test_a_users_folder_is_not_a_run_and_keeps_its_files(finished, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "README.md").write_text("my notes\n")
    code, _, err = invoke(RUN + ["--steps", "1", "--out", out], capsys)
    assert code == 0, err
    code, _, err = invoke(RUN + ["--steps", "1", "--overwrite", "--out", out], capsys)
    assert code == 0, err
    assert (out / "README.md").read_text() == "my notes\n" and results.Run(out).complete
