"""PTB results format: reading is torch-free, strict, and finds the committed results anywhere."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import implicit_bias
from implicit_bias.ptb import results
from implicit_bias.ptb.configs import TrainConfig, sweep_configs
from implicit_bias.ptb.results import ResultsError

SRC = str(Path(implicit_bias.__file__).resolve().parents[1])


def _python(code: str, cwd, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": SRC, **env}, timeout=120)


def test_reading_results_does_not_import_torch(tmp_path):
    """In a fresh interpreter: results, configs and analysis load, and so do all committed runs."""
    done = _python("import sys\n"
                   "from implicit_bias.ptb import results, analysis, configs\n"
                   "runs = results.load_runs([results.committed_results_dir('cpu')])\n"
                   "assert 'torch' not in sys.modules, 'torch imported'\n"
                   "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
                   "print(len(runs))", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "56"


def test_committed_results_are_found_from_any_folder(tmp_path):
    done = _python("from implicit_bias.ptb import results; print(results.committed_results_dir())",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (Path(done.stdout.strip()) / "cpu").is_dir()


def test_results_env_var_overrides_and_a_wrong_one_is_named(tmp_path, monkeypatch):
    (tmp_path / "cpu").mkdir()
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    assert results.committed_results_dir("cpu") == tmp_path / "cpu"
    with pytest.raises(ResultsError, match=r"IMPLICIT_BIAS_RESULTS=.* does not hold it.*pip install -e ."):
        results.committed_results_dir("paper")


def test_committed_runs_are_complete_and_consistent():
    folders = {"cpu": 56, "cpu-half": 8, "cpu-bias-correction": 16, "cpu-lr": 8, "cpu-wide": 8,
               "cpu-beyond": 2}
    for folder, count in folders.items():
        runs = results.load_runs([results.committed_results_dir(folder)])
        assert len(runs) == count and all(r.complete for r in runs), folder
        assert all(r.metrics["step"][-1] == r.config["steps"] == 400 for r in runs), folder
    labels = {r.label for r in results.load_runs([results.committed_results_dir("cpu")])}
    assert labels == {c.label() for c in sweep_configs("cpu")}  # the whole sweep, nothing else


@pytest.mark.parametrize("make,match", [
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "no runs in"),
    (lambda p: p.write_text("x"), "is a file, not a results folder"),
])
def test_load_runs_never_returns_an_empty_list_silently(tmp_path, make, match):
    make(tmp_path / "res")
    with pytest.raises(ResultsError, match=match):
        results.load_runs([tmp_path / "res"])


def _copy_run(tmp_path) -> Path:
    source = results.committed_results_dir("cpu") / "adamw_b0.99-0.99_wd1_s0"
    run = tmp_path / "run"
    run.mkdir()
    for name in ("run.json", "metrics.csv", "tensor_linf.csv"):
        (run / name).write_bytes((source / name).read_bytes())
    return run


def test_truncated_or_mismatched_metrics_are_errors(tmp_path):
    run = _copy_run(tmp_path)
    text = (run / "metrics.csv").read_text()
    (run / "metrics.csv").write_text(text[:-7])  # cut inside the last row
    with pytest.raises(ResultsError, match="truncated"):
        results.Run(run)
    (run / "metrics.csv").write_text("".join(text.splitlines(keepends=True)[:-1]))  # a row short
    with pytest.raises(ResultsError, match=r"401 rows expected|does not match run.json"):
        results.Run(run)


def test_corrupt_run_json_is_an_error_naming_the_file(tmp_path):
    run = _copy_run(tmp_path)
    (run / "run.json").write_text('{"config": {}}')
    with pytest.raises(ResultsError, match=r"run\.json is corrupt: it lacks label, summary"):
        results.Run(run)


def test_old_run_json_without_status_counts_as_complete_only_when_all_steps_ran(tmp_path):
    run = _copy_run(tmp_path)
    info = json.loads((run / "run.json").read_text())
    assert "status" not in info and results.run_status(info) == "complete"
    config = TrainConfig(**info["config"]).to_dict()
    assert results.inspect_folder(run, config).kind == "complete"
    assert results.inspect_folder(run, {**config, "steps": 800}).kind == "incomplete"
    assert results.inspect_folder(run, {**config, "steps": 100}).kind == "longer"
    state = results.inspect_folder(run, {**config, "lr": 0.1})
    assert state.kind == "other-config" and "lr 0.01 -> 0.1" in state.detail


def test_every_column_is_documented(tmp_path):
    results.write_readme(tmp_path, "x")
    text = (tmp_path / "README.md").read_text()
    assert set(results.COLUMNS) == set(results.METRIC_COLUMNS)
    assert all(f"`{c}`" in text for c in results.METRIC_COLUMNS)
    assert "row t holds the loss at x_{t-1}" in text


def test_plot_linf_leaves_the_backend_to_the_caller(tmp_path):
    """A library function must not switch the caller's matplotlib backend (the CLI picks Agg)."""
    run = _copy_run(tmp_path)
    done = _python("import matplotlib\n"
                   "matplotlib.use('svg')\n"
                   "from implicit_bias.ptb import analysis, results\n"
                   f"paths = analysis.plot_linf(results.load_runs([{str(run)!r}]), {str(tmp_path)!r})\n"
                   "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
                   "print(len(paths))", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1" and (tmp_path / "linf_wd1.png").is_file()
