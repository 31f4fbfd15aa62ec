"""PTB results format: reading is torch-free, strict, and finds the committed results anywhere."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import implicit_bias
from implicit_bias.ptb import results
from implicit_bias.ptb.configs import TrainConfig, sweep_configs
from implicit_bias.ptb.results import ResultsError, RunSummary, RunTiming

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


#: the committed groups of runs (book/results/ptb/<group>/<run>) and how many runs each holds
COMMITTED_GROUPS = {"cpu": 56, "cpu-half": 8, "cpu-bias-correction": 16, "cpu-lr": 8,
                    "cpu-wide": 8, "cpu-beyond": 2, "cpu-rotation": 24}
#: committed runs that diverged (a result like any other; the chapter ch-rotation reads it)
COMMITTED_DIVERGED = {"cpu-rotation/sgd_b0-0_wd0_lr0.6_s0"}


def _is_committed_diverged(run) -> bool:
    return f"{run.dir.parent.name}/{run.dir.name}" in COMMITTED_DIVERGED


def test_committed_runs_are_complete_and_consistent():
    for folder, count in COMMITTED_GROUPS.items():
        runs = results.load_runs([results.committed_results_dir(folder)])
        finished = [r for r in runs if not _is_committed_diverged(r)]
        assert len(runs) == count and all(r.complete for r in finished), folder
        assert all(r.metrics["step"][-1] == r.config.steps == 400 for r in finished), folder
        assert all(r.status == "diverged" for r in runs if _is_committed_diverged(r)), folder
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
    assert "status" not in info and results.Run(run).status == "complete"
    assert results.folder_state(run).kind == "complete"
    info["summary"]["steps_done"] = 399  # a run.json without status that did not run every step
    (run / "run.json").write_text(json.dumps(info))
    assert results.folder_state(run).kind == "running"


def test_an_old_run_json_written_before_a_key_existed_still_loads(tmp_path):
    """The committed cpu runs predate ``vocab``, ``status`` and ``sessions``; a setting dropped
    from run.json (as if written before it existed) takes TrainConfig's default."""
    run = _copy_run(tmp_path)
    info = json.loads((run / "run.json").read_text())
    assert "vocab" not in info["config"] and "sessions" not in info["timing"]
    del info["config"]["tensor_log_every"]
    (run / "run.json").write_text(json.dumps(info))
    loaded = results.Run(run)
    assert loaded.config.vocab == "train" and loaded.timing.sessions is None
    assert loaded.config.tensor_log_every == TrainConfig().tensor_log_every
    assert loaded.config.lr == 0.01 and loaded.complete


def _committed_run_folders() -> list[Path]:
    return sorted(p.parent for p in results.committed_results_dir().glob("*/*/run.json"))


def test_every_committed_run_folder_loads_with_typed_parts():
    folders = _committed_run_folders()
    assert len(folders) == sum(COMMITTED_GROUPS.values())
    for folder in folders:
        run = results.Run(folder)
        assert isinstance(run.config, TrainConfig), folder
        assert isinstance(run.summary, RunSummary) and isinstance(run.timing, RunTiming), folder
        assert run.label == run.config.label(), folder  # (cpu-lr folders add the lr)
        assert run.tensor_linf is not None, folder
        if _is_committed_diverged(run):
            assert run.status == "diverged" and run.summary.steps_done < run.config.steps, folder
            assert results.folder_state(folder, run.config).kind == "diverged", folder
            continue
        assert run.summary.steps_done == run.config.steps and run.complete, folder
        assert run.tensor_linf["step"][-1] == run.config.steps, folder
        assert results.folder_state(folder, run.config).kind == "complete", folder


def test_a_misspelt_name_is_an_attribute_error():
    run = results.Run(results.committed_results_dir("cpu") / "adamw_b0.99-0.99_wd1_s0")
    assert run.config.beta1 == 0.99 and run.summary.final_linf == run.metrics["linf"][-1]
    for part, name in ((run.config, "beta_1"), (run.summary, "final_linfty"),
                       (run.timing, "wall_time"), (run, "sumary")):
        with pytest.raises(AttributeError, match=name):
            getattr(part, name)
    with pytest.raises(TypeError):
        run.summary["final_linf"]  # no dict access left to mistype  # noqa: B018
    with pytest.raises(AttributeError):  # frozen: a result is never changed by a reader
        run.summary.final_linf = 0.0


@pytest.mark.parametrize("optimizer", ["lion", "muon"])
def test_tensor_spectral_is_loaded_for_lion_and_muon_and_none_for_adamw(optimizer):
    run = next(r for r in results.load_runs(results.committed_results_dir("cpu-beyond"))
               if r.config.optimizer == optimizer)
    spectral = run.tensor_spectral
    assert spectral is not None
    np.testing.assert_array_equal(spectral["step"], run.tensor_linf["step"])
    assert "decoder.weight" in spectral and "decoder.bias" not in spectral  # 2-D tensors only
    adamw = results.Run(results.committed_results_dir("cpu") / "adamw_b0.99-0.99_wd1_s0")
    assert adamw.tensor_spectral is None


@pytest.mark.parametrize("change,match", [
    (lambda info: info["summary"].update(final_linfty=1.0), "unknown keys final_linfty"),
    (lambda info: info["summary"].pop("log_v_ratio"), "summary is incomplete.*log_v_ratio"),
    (lambda info: info["config"].update(beta_1=0.9), "config has unknown keys beta_1"),
    (lambda info: info["timing"].pop("wall_time_s"), "timing is incomplete.*wall_time_s"),
])
def test_an_unknown_or_missing_key_is_an_error_naming_the_file(tmp_path, change, match):
    run = _copy_run(tmp_path)
    info = json.loads((run / "run.json").read_text())
    change(info)
    (run / "run.json").write_text(json.dumps(info))
    with pytest.raises(ResultsError, match=r"run\.json is corrupt.*" + match):
        results.Run(run)


def _with_record(run: Path, **top) -> Path:
    """``run``'s run.json with the top-level entries ``top`` set (``status``, ``divergence``)."""
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, **top}))
    return run


def test_folder_state_of_every_kind(tmp_path):
    run = _copy_run(tmp_path)
    config = results.Run(run).config
    assert results.folder_state(tmp_path / "nothing").kind == "empty"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "README.md").write_text("my notes\n")  # a user's folder: no run files
    assert results.folder_state(tmp_path / "mine", config).kind == "empty"
    (tmp_path / "file").write_text("x")
    assert results.folder_state(tmp_path / "file").kind == "not-a-run"
    (tmp_path / "killed").mkdir()
    (tmp_path / "killed" / "checkpoint.pt").write_bytes(b"")
    assert results.folder_state(tmp_path / "killed", config).kind == "unrecorded"
    kinds = {"complete": results.folder_state(run, config).kind,
             "shorter": results.folder_state(run, replace(config, steps=800)).kind,
             "longer": results.folder_state(run, replace(config, steps=100)).kind}
    assert kinds == {k: k for k in kinds}
    state = results.folder_state(run, replace(config, lr=0.1))
    assert state.kind == "different-config" and "lr 0.01 -> 0.1" in state.detail
    assert results.folder_state(run, replace(config, threads=1)).kind == "complete"  # RESUMABLE
    for status in ("running", "interrupted"):
        _with_record(run, status=status)
        state = results.folder_state(run, config)
        assert (state.kind, state.detail, state.steps_done) == (
            status, f"{status} at step 400 of 400", 400)
        assert results.folder_state(run).kind == status
    _with_record(run, status="diverged", divergence=dict(step=401, reason="nan loss"))
    state = results.folder_state(run, config)
    assert state.kind == "diverged" and state.detail == "it diverged at step 401"
    (run / "run.json").write_text("{")
    assert results.folder_state(run).kind == "unreadable"
    assert set(results.FOLDER_STATES) == {"empty", "not-a-run", "unrecorded", "unreadable",
                                          "running", "interrupted", "diverged", "complete",
                                          "shorter", "longer", "different-config"}


def test_folder_state_of_a_tiny_run_as_it_is_extended(ptb_dir, tiny_config, tmp_path):
    """A trained run: complete at its steps, ``shorter`` for more steps, ``longer`` for fewer."""
    from implicit_bias.ptb.trainer import train

    config = tiny_config(steps=2)
    train(config, tmp_path, data_dir=ptb_dir, show_progress=False)
    assert results.folder_state(tmp_path, config).kind == "complete"
    assert results.folder_state(tmp_path, replace(config, steps=4)).kind == "shorter"
    assert results.folder_state(tmp_path, replace(config, steps=1)).kind == "longer"
    run = results.Run(tmp_path)
    assert run.config == config and run.timing.sessions == 1 and run.tensor_spectral is None


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
