"""PTB trainer: exact full-batch step, resume-after-kill identity, NaN stop, CLI validation, DDP."""

import copy
import os
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from implicit_bias.optim import AdamL2, AdamW
from implicit_bias.ptb import trainer as trainer_mod
from implicit_bias.ptb.__main__ import main
from implicit_bias.ptb.configs import get_config
from implicit_bias.ptb.data import load_corpus
from implicit_bias.ptb.model import TransformerLM, linear_cross_entropy
from implicit_bias.ptb.trainer import NonFiniteLossError, TrainConfig, Trainer, read_metrics

PTB_DIR = os.environ.get("PTB_DIR")
pytestmark = pytest.mark.skipif(
    not (PTB_DIR and (Path(PTB_DIR) / "ptb.train.txt").is_file()),
    reason="PTB data not available: set PTB_DIR to a directory with ptb.{train,valid,test}.txt")

# 11 chunks of 35 tokens, micro-batches of 4 chunks (so accumulation is exercised), tiny model
TINY = TrainConfig(name="tiny", train_tokens=400, valid_tokens=200, d_model=16, n_heads=2,
                   d_ff=16, n_layers=2, lr=1e-2, beta1=0.9, beta2=0.95, weight_decay=1.0,
                   steps=6, micro_batch=4, loss_chunk_rows=50, threads=1, eval_every=2,
                   checkpoint_every=2, tensor_log_every=1)


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(train_tokens=TINY.train_tokens, valid_tokens=TINY.valid_tokens)


def test_chunked_loss_matches_cross_entropy():
    torch.manual_seed(0)
    h = torch.randn(23, 8, requires_grad=True)
    w, b = torch.randn(30, 8, requires_grad=True), torch.randn(30, requires_grad=True)
    y = torch.randint(0, 30, (23,))
    ours = linear_cross_entropy(h, w, b, y, chunk_rows=5)
    grads = torch.autograd.grad(3.0 * ours, (h, w, b))
    ref = F.cross_entropy(F.linear(h, w, b), y, reduction="sum")
    ref_grads = torch.autograd.grad(3.0 * ref, (h, w, b))
    assert torch.allclose(ours, ref, rtol=1e-6)
    for g, r in zip(grads, ref_grads):
        assert torch.allclose(g, r, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer,reduction", [("adamw", "mean"), ("adam-l2", "sum")])
def test_one_step_is_the_hand_accumulated_full_batch_step(corpus, tmp_path, optimizer, reduction):
    config = TrainConfig(**{**TINY.__dict__, "steps": 1, "optimizer": optimizer,
                            "loss_reduction": reduction})
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
        assert torch.allclose(q.grad, p.grad, rtol=0, atol=1e-5 * scale), name
        # Adam's first step is lr*(1-b1)/sqrt(1-b2)*sign(g): where g is round-off (the key
        # projection's bias has an exactly zero gradient, softmax being shift-invariant) the
        # sign is arbitrary, so compare the step where the gradient is resolved
        resolved = p.grad.abs() > 1e-3 * scale
        assert torch.allclose(p[resolved], q[resolved], rtol=0, atol=1e-6), name
    first = read_metrics(tmp_path / "metrics.csv")
    mean_loss = loss.item() / (trainer.inputs.numel() if reduction == "sum" else 1)
    assert abs(first["loss"][1] - mean_loss) < 1e-5


def _metrics_text(out):
    return (Path(out) / "metrics.csv").read_text(), (Path(out) / "tensor_linf.csv").read_text()


def test_resume_after_kill_gives_identical_metrics(corpus, tmp_path, monkeypatch):
    Trainer(TINY, corpus=corpus, show_progress=False).run(tmp_path / "straight")
    original = Trainer.compute_gradient

    def killed_at_step_5(self, step):
        if step == 5:
            raise KeyboardInterrupt("simulated kill")
        return original(self, step)

    monkeypatch.setattr(Trainer, "compute_gradient", killed_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        Trainer(TINY, corpus=corpus, show_progress=False).run(tmp_path / "killed")
    monkeypatch.setattr(Trainer, "compute_gradient", original)
    state = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=False)
    assert state["step"] == 4
    Trainer(TINY, corpus=corpus, show_progress=False).run(tmp_path / "killed", resume=True)
    assert _metrics_text(tmp_path / "killed") == _metrics_text(tmp_path / "straight")


def test_nan_loss_stops_with_clear_error_and_keeps_checkpoint(corpus, tmp_path, monkeypatch):
    original = Trainer.compute_gradient
    monkeypatch.setattr(Trainer, "compute_gradient",
                        lambda self, step: float("nan") if step == 5 else original(self, step))
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at step 5.*checkpoint"):
        Trainer(TINY, corpus=corpus, show_progress=False).run(tmp_path)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["step"] == 4 and all(torch.isfinite(v).all() for v in state["model"].values())
    assert read_metrics(tmp_path / "metrics.csv")["step"][-1] == 4


def test_huge_learning_rate_reports_nonfinite_loss_through_cli(tmp_path, monkeypatch, capsys):
    original = Trainer.compute_gradient
    monkeypatch.setattr(Trainer, "compute_gradient",
                        lambda self, step: float("inf") if step == 2 else original(self, step))
    monkeypatch.setattr(trainer_mod, "load_corpus",
                        lambda *a, **k: load_corpus(train_tokens=400, valid_tokens=200))
    code = main(["run", "--config", "cpu", "--optimizer", "adamw", "--beta1", "0.9", "--beta2",
                 "0.9", "--weight-decay", "1", "--steps", "3", "--out", str(tmp_path),
                 "--no-progress"])
    assert code == 1 and "loss is inf at step 2" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--beta1", "1.0"], "beta1=1 is outside [0, 1)"),
    (["--beta2", "-0.1"], "beta2=-0.1 is outside [0, 1)"),
    (["--weight-decay", "-1"], "weight-decay=-1 must be finite and >= 0"),
    (["--lr", "-0.001"], "lr=-0.001 must be finite and >= 0"),
    (["--config", "huge"], "invalid choice: 'huge'"),
])
def test_cli_rejects_bad_values_before_any_work(argv, message, capsys, tmp_path):
    base = {"--config": "cpu", "--optimizer": "adamw", "--beta1": "0.9", "--beta2": "0.9",
            "--weight-decay": "1", "--out": str(tmp_path / "never")}
    base.update(dict(zip(argv[::2], argv[1::2])))
    with pytest.raises(SystemExit) as exit_info:
        main(["run"] + [t for kv in base.items() for t in kv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_config_validation_names_the_parameter():
    with pytest.raises(ValueError, match="beta2"):
        TrainConfig(beta2=1.0).validate()
    with pytest.raises(ValueError, match="config='gpu' is unknown"):
        get_config("gpu")


def test_two_gloo_processes_take_the_single_process_step(corpus, tmp_path):
    config = TrainConfig(**{**TINY.__dict__, "steps": 3})
    Trainer(config, corpus=corpus, show_progress=False).run(tmp_path / "one")
    trainer_mod.run_gloo(config, tmp_path / "two", world_size=2)
    one, two = read_metrics(tmp_path / "one" / "metrics.csv"), read_metrics(tmp_path / "two" / "metrics.csv")
    for key in ("linf", "l2", "loss"):
        a, b = one[key][1:], two[key][1:]
        assert torch.allclose(torch.tensor(a), torch.tensor(b), rtol=1e-5, atol=1e-7), key
    assert list(one["linf_tensor"]) == list(two["linf_tensor"])
