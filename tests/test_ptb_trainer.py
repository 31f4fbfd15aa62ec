"""PTB trainer: exact full-batch step, resume-after-kill identity, divergence guard, DDP.

The command line is tested in test_ptb_cli.py, the on-disk format in test_ptb_results.py.
"""

import copy
import math
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from implicit_bias.optim import AdamL2, AdamW
from implicit_bias.ptb import results
from implicit_bias.ptb import trainer as trainer_mod
from implicit_bias.ptb.configs import TrainConfig, get_config
from implicit_bias.ptb.model import linear_cross_entropy
from implicit_bias.ptb.results import read_metrics
from implicit_bias.ptb.trainer import DivergedError, RunFolderExists, RunInterrupted, Trainer

# every test, even those that need no data (kept as they were): fixture ptb_dir, tests/conftest.py
pytestmark = pytest.mark.usefixtures("ptb_dir")


@pytest.fixture(scope="module")
def corpus(tiny_corpus):
    return tiny_corpus  # tests/conftest.py: 11 chunks of 35 tokens, micro-batches of 4


def test_chunked_loss_matches_cross_entropy():
    torch.manual_seed(0)
    h = torch.randn(23, 8, requires_grad=True)
    w, b = torch.randn(30, 8, requires_grad=True), torch.randn(30, requires_grad=True)
    y = torch.randint(0, 30, (23,))
    ours = linear_cross_entropy(h, w, b, y, chunk_rows=5)
    grads = torch.autograd.grad(3.0 * ours, (h, w, b))
    ref = F.cross_entropy(F.linear(h, w, b), y, reduction="sum")
    ref_grads = torch.autograd.grad(3.0 * ref, (h, w, b))
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-8)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer,reduction", [("adamw", "mean"), ("adam-l2", "sum")])
def test_one_step_is_the_hand_accumulated_full_batch_step(corpus, tiny_config, tmp_path, optimizer,
                                                          reduction):
    config = tiny_config(steps=1, optimizer=optimizer, loss_reduction=reduction)
    trainer = Trainer(config, corpus=corpus, show_progress=False)
    model = copy.deepcopy(trainer.model)  # x_0
    trainer.run(tmp_path)
    # by hand: every chunk in one forward pass, the textbook loss, the package optimizer
    logits = model(trainer.inputs)
    loss = F.cross_entropy(logits.reshape(-1, corpus.vocab_size), trainer.targets.reshape(-1),
                           reduction=reduction)
    loss.backward()
    cls = AdamW if optimizer == "adamw" else AdamL2
    cls(model.parameters(), lr=config.lr, betas=(config.beta1, config.beta2), eps=0.0,
        weight_decay=config.weight_decay).step()
    for (name, p), q in zip(model.named_parameters(), trainer.params):
        scale = p.grad.abs().max()
        torch.testing.assert_close(q.grad, p.grad, rtol=0, atol=1e-5 * scale, msg=str(name))
        # Adam's first step is lr*(1-b1)/sqrt(1-b2)*sign(g): where g is round-off (the key
        # projection's bias has an exactly zero gradient, softmax being shift-invariant) the
        # sign is arbitrary, so compare the step where the gradient is resolved
        resolved = p.grad.abs() > 1e-3 * scale
        torch.testing.assert_close(p[resolved], q[resolved], rtol=0, atol=1e-6, msg=str(name))
    first = read_metrics(tmp_path / "metrics.csv")
    mean_loss = loss.item() / (trainer.inputs.numel() if reduction == "sum" else 1)
    assert abs(first["loss"][1] - mean_loss) < 1e-5


def _metrics_text(out):
    return (Path(out) / "metrics.csv").read_text(), (Path(out) / "tensor_linf.csv").read_text()


def test_resume_after_kill_gives_identical_metrics(corpus, tiny_config, tmp_path, monkeypatch):
    tiny = tiny_config()
    Trainer(tiny, corpus=corpus, show_progress=False).run(tmp_path / "straight")
    original = Trainer.compute_gradient

    def killed_at_step_5(self, step):
        if step == 5:
            raise KeyboardInterrupt("simulated kill")
        return original(self, step)

    monkeypatch.setattr(Trainer, "compute_gradient", killed_at_step_5)
    with pytest.raises(RunInterrupted, match="checkpoint.pt holds step 4"):
        Trainer(tiny, corpus=corpus, show_progress=False).run(tmp_path / "killed")
    monkeypatch.setattr(Trainer, "compute_gradient", original)
    state = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=False)
    assert state["step"] == 4
    Trainer(tiny, corpus=corpus, show_progress=False).run(tmp_path / "killed", resume=True)
    assert _metrics_text(tmp_path / "killed") == _metrics_text(tmp_path / "straight")


def test_nan_loss_stops_with_clear_error_and_keeps_everything(corpus, tiny_config, tmp_path,
                                                              monkeypatch):
    original = Trainer.compute_gradient
    monkeypatch.setattr(Trainer, "compute_gradient",
                        lambda self, step: float("nan") if step == 5 else original(self, step))
    with pytest.raises(DivergedError, match=r"diverged at step 5: the training loss at x_4 is nan"
                                            r".*steps 0\.\.4; .*checkpoint\.pt holds step 4"):
        Trainer(tiny_config(), corpus=corpus, show_progress=False).run(tmp_path)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["step"] == 4 and all(torch.isfinite(v).all() for v in state["model"].values())
    run = results.Run(tmp_path)  # readable, consistent, marked
    assert run.status == "diverged" and run.info["divergence"]["step"] == 5
    assert run.summary.steps_done == 4 and list(run.metrics["step"]) == [0, 1, 2, 3, 4]


def test_nonfinite_parameters_stop_before_the_row_is_kept(corpus, tiny_config, tmp_path,
                                                          monkeypatch):
    original = Trainer.compute_gradient

    def poisoned(self, step):
        loss = original(self, step)
        if step == 3:
            self.params[0].grad[0] = math.inf  # Adam's m/sqrt(v) = inf/inf = nan
        return loss

    monkeypatch.setattr(Trainer, "compute_gradient", poisoned)
    with pytest.raises(DivergedError, match="parameters are not finite after step 3") as info:
        Trainer(tiny_config(), corpus=corpus, show_progress=False).run(tmp_path)
    assert info.value.checkpoint_step == 2
    run = results.Run(tmp_path)
    assert run.status == "diverged" and run.summary.steps_done == 2
    assert all(math.isfinite(v) for v in run.metrics["linf"])


def test_validation_overflow_is_a_divergence_not_a_crash(corpus, tiny_config, tmp_path,
                                                         monkeypatch):
    monkeypatch.setattr(trainer_mod.FullBatchGradient, "validation_perplexity",
                        lambda self: math.inf)
    with pytest.raises(DivergedError, match="validation perplexity at x_2 is inf") as info:
        Trainer(tiny_config(), corpus=corpus, show_progress=False).run(tmp_path)
    assert info.value.checkpoint_step is None  # the first checkpoint (step 2) was not written
    assert "no checkpoint was written" in str(info.value)
    assert results.Run(tmp_path).summary.steps_done == 1


def test_validation_perplexity_overflow_returns_inf(corpus, tiny_config):
    trainer = Trainer(tiny_config(), corpus=corpus, show_progress=False)
    with torch.no_grad():
        trainer.model.decoder.bias[:] = 0.0
        trainer.model.decoder.bias[0] = 1e4  # every prediction certain of word 0: CE ~ 1e4
    assert trainer.validation_perplexity() == math.inf


def test_a_run_folder_is_not_overwritten(corpus, tiny_config, tmp_path):
    config = tiny_config(steps=2)
    Trainer(config, corpus=corpus, show_progress=False).run(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(RunFolderExists, match="already holds a run"):
        Trainer(config, corpus=corpus, show_progress=False).run(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    # resume of a complete run: nothing changes, not even the timing
    Trainer(config, corpus=corpus, show_progress=False).run(tmp_path, resume=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_extending_a_finished_run_equals_the_longer_run(corpus, tiny_config, tmp_path):
    """A 3-step run resumed to 6 steps (what sweep does after sweep --steps 3) = a 6-step run."""
    tiny = tiny_config()
    Trainer(tiny, corpus=corpus, show_progress=False).run(tmp_path / "straight")
    short = tiny_config(steps=3)
    Trainer(short, corpus=corpus, show_progress=False).run(tmp_path / "extended")
    Trainer(tiny, corpus=corpus, show_progress=False).run(tmp_path / "extended", resume=True)
    assert _metrics_text(tmp_path / "extended") == _metrics_text(tmp_path / "straight")
    timing = results.Run(tmp_path / "extended").timing
    assert timing.sessions == 2 and timing.resumed


def test_lr_times_weight_decay_above_one_is_rejected():
    with pytest.raises(ValueError, match=r"lr \* weight_decay = 2 \* 1 = 2 is invalid.*flips"):
        TrainConfig(lr=2.0, weight_decay=1.0).validate()
    TrainConfig(optimizer="adam-l2", lr=2.0, weight_decay=1.0).validate()  # no decay factor there


def test_config_validation_names_the_parameter():
    with pytest.raises(ValueError, match="beta2"):
        TrainConfig(beta2=1.0).validate()
    with pytest.raises(ValueError, match="config='gpu' is unknown"):
        get_config("gpu")


def test_two_gloo_processes_take_the_single_process_step(corpus, tiny_config, tmp_path):
    config = tiny_config(steps=3)
    Trainer(config, corpus=corpus, show_progress=False).run(tmp_path / "one")
    trainer_mod.run_gloo(config, tmp_path / "two", world_size=2)
    one, two = read_metrics(tmp_path / "one" / "metrics.csv"), read_metrics(tmp_path / "two" / "metrics.csv")
    for key in ("linf", "l2", "loss"):
        a, b = one[key][1:], two[key][1:]
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b), rtol=1e-5, atol=1e-7, msg=str(key))
    assert list(one["linf_tensor"]) == list(two["linf_tensor"])


# ----- Lion and torch Muon + AdamW (book: ch-many-optimizers) ---------------------------------

@pytest.mark.parametrize("optimizer", ["lion", "muon"])
def test_lion_and_muon_runs_respect_their_radii_and_resume_identically(corpus, tiny_config,
                                                                       tmp_path, optimizer):
    from implicit_bias.muon import muon_radius

    config = tiny_config(optimizer=optimizer)
    Trainer(config, corpus=corpus, show_progress=False).run(tmp_path / "straight")
    short = tiny_config(optimizer=optimizer, steps=3)
    Trainer(short, corpus=corpus, show_progress=False).run(tmp_path / "extended")
    Trainer(config, corpus=corpus, show_progress=False).run(tmp_path / "extended", resume=True)
    assert _metrics_text(tmp_path / "extended") == _metrics_text(tmp_path / "straight")
    spectral = read_metrics(tmp_path / "straight" / "tensor_spectral.csv")
    linf = read_metrics(tmp_path / "straight" / "tensor_linf.csv")
    q = 1 - config.lr * config.weight_decay
    steps = linf["step"]
    if optimizer == "lion":  # every tensor: ||x_t||_inf <= 1/lambda + q^t (||x_0||_inf - 1/lambda)_+
        for name in linf:
            if name != "step":
                v = linf[name]
                assert (v <= 1 + q ** steps * max(v[0] - 1, 0) + 1e-6).all(), name
    else:  # hidden matrices: ||W_t||_op <= R + q^t (||W_0||_op - R)_+, R = s c_NS / lambda
        hidden = [n for n in spectral if n.startswith("transformer_encoder")]
        assert len(hidden) == 8
        for name in hidden:
            shape = (48, 16) if "in_proj" in name else (16, 16)
            radius = muon_radius(shape, config.weight_decay)
            v = spectral[name]
            assert (v <= radius + q ** steps * max(v[0] - radius, 0) + 0.02 * radius).all(), name


def test_muon_splits_hidden_matrices_from_the_rest(corpus, tiny_config):
    trainer = Trainer(tiny_config(optimizer="muon"), corpus=corpus, show_progress=False)
    opt = trainer.optimizer
    muon_params = {id(p) for g in opt.muon.param_groups for p in g["params"]}
    for name, p in zip(trainer.names, trainer.params):
        assert (id(p) in muon_params) == (p.ndim == 2 and name.startswith("transformer_encoder.")), name


def test_lion_and_muon_reject_lr_times_weight_decay_above_one():
    for optimizer in ("lion", "muon"):
        with pytest.raises(ValueError, match="flips"):
            TrainConfig(optimizer=optimizer, lr=2.0, weight_decay=1.0).validate()
