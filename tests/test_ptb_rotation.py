"""Training in a rotated basis (ptb.rotation) and the ℓ2 / ℓ∞ smoothness estimates (ptb.smoothness)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from implicit_bias.ptb.configs import TrainConfig
from implicit_bias.ptb.model import TransformerLM
from implicit_bias.ptb.results import read_metrics
from implicit_bias.ptb.rotation import OrthogonalBasis, rotate_matrices, rotated_names
from implicit_bias.ptb.smoothness import (HessianVectorProduct, estimate_smoothness,
                                          linf_to_l1_estimate, spectral_norm_estimate)
from implicit_bias.ptb.trainer import Trainer


def _tiny_model(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return TransformerLM(12, d_model=8, n_heads=2, d_ff=8, n_layers=1, max_len=16).to(dtype)


def test_rotation_keeps_the_function_and_rotates_every_matrix():
    model = _tiny_model(dtype=torch.float64)
    tokens = torch.randint(0, 12, (3, 5), generator=torch.Generator().manual_seed(1))
    before = model(tokens)
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    rotated = rotate_matrices(model, seed=3)
    assert rotated == [n for n, w in weights.items() if w.ndim == 2]
    torch.testing.assert_close(model(tokens), before, rtol=0, atol=1e-12)
    names = rotated_names(n for n, _ in model.named_parameters())
    assert sorted(names) == sorted(weights)
    for name, param in zip(names, model.parameters()):
        if name in rotated:  # the optimizer's tensor is U^T W V, not W
            assert not torch.allclose(param, weights[name])
        else:
            assert torch.equal(param, weights[name])
    for module in model.modules():
        if isinstance(module, OrthogonalBasis):
            for basis in (module.left, module.right):
                eye = torch.eye(basis.shape[0], dtype=basis.dtype)
                torch.testing.assert_close(basis.T @ basis, eye, rtol=0, atol=1e-12)


def test_bases_come_from_the_seed_and_are_not_saved():
    a, b, c = _tiny_model(), _tiny_model(), _tiny_model()
    rotate_matrices(a, seed=0), rotate_matrices(b, seed=0), rotate_matrices(c, seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not torch.equal(next(a.parameters()), next(c.parameters()))
    assert not any(k.endswith(("left", "right")) for k in a.state_dict())


def test_label_and_validation_of_rotation_seed():
    assert TrainConfig(rotation_seed=0).label().endswith("_rot0_s0")
    assert "_rot" not in TrainConfig().label()
    for bad in (-1, 1.5, "0"):
        with pytest.raises(ValueError, match="rotation_seed"):
            TrainConfig(rotation_seed=bad).validate()


# ----- whole runs on the tiny PTB configuration ----------------------------------------------

@pytest.fixture(scope="module")
def corpus(tiny_corpus):
    return tiny_corpus  # tests/conftest.py: 11 chunks of 35 tokens, micro-batches of 4


def _losses(config, corpus, folder):
    Trainer(config, corpus=corpus, show_progress=False).run(folder)
    return np.asarray(read_metrics(folder / "metrics.csv")["loss"][1:], dtype=float)


@pytest.mark.parametrize("optimizer, beta, lr, equivariant", [
    ("sgd", 0.0, 0.5, True), ("sgd", 0.9, 0.5, True),      # GD, heavy ball: rotation-equivariant
    ("adam", 0.9, 1e-2, False), ("lion", 0.0, 1e-2, False),  # Adam, sign descent: coordinate-wise
])
def test_gd_takes_the_same_steps_in_a_rotated_basis_and_adam_does_not(
        corpus, tiny_config, tmp_path, optimizer, beta, lr, equivariant):
    settings = dict(optimizer=optimizer, beta1=beta, beta2=beta, lr=lr, weight_decay=0.0,
                    steps=6)
    own = _losses(tiny_config(**settings), corpus, tmp_path / "own")
    rotated = _losses(tiny_config(**settings, rotation_seed=0), corpus, tmp_path / "rotated")
    gap = float(np.max(np.abs(own - rotated)))
    assert abs(own[0] - rotated[0]) < 1e-5, "the same initial function in both bases"
    if equivariant:
        assert gap < 1e-4, f"{optimizer}: losses differ by {gap:.2e} between the bases"
    else:
        assert gap > 1e-3, f"{optimizer}: losses only differ by {gap:.2e} between the bases"


def test_rotated_run_resumes_identically(corpus, tiny_config, tmp_path):
    config = tiny_config(optimizer="adam", rotation_seed=2)
    Trainer(config, corpus=corpus, show_progress=False).run(tmp_path / "straight")
    Trainer(tiny_config(optimizer="adam", rotation_seed=2, steps=3), corpus=corpus,
            show_progress=False).run(tmp_path / "extended")
    Trainer(config, corpus=corpus, show_progress=False).run(tmp_path / "extended", resume=True)
    for name in ("metrics.csv", "tensor_linf.csv"):
        assert (tmp_path / "extended" / name).read_text() == (tmp_path / "straight" / name).read_text()
    header = (tmp_path / "straight" / "tensor_linf.csv").read_text().splitlines()[0]
    assert "decoder.weight" in header and "parametrizations" not in header


# ----- the smoothness estimates against the exact Hessian ------------------------------------

class _Bigram(nn.Module):
    """Embedding (3 x 2) then a linear map back to 3 words: 12 parameters, small enough to
    enumerate every sign vector."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(3, 2).double()
        self.out = nn.Linear(2, 3, bias=False).double()

    def forward(self, tokens):
        return self.out(self.embed(tokens))


def _exact_hessian(model, inputs, targets):
    from torch.func import functional_call

    from implicit_bias.ptb.smoothness import full_batch_loss

    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(vector):
        parts = torch.split(vector, [s.numel() for s in shapes])
        params = {n: x.reshape(s) for n, x, s in zip(names, parts, shapes)}
        return full_batch_loss(lambda t: functional_call(model, params, (t,)), inputs, targets)

    return torch.autograd.functional.hessian(loss, flat).numpy()  # reverse over reverse


def test_estimates_are_lower_bounds_that_match_the_exact_hessian():
    model = _Bigram()
    gen = torch.Generator().manual_seed(0)
    inputs, targets = torch.randint(0, 3, (4, 6), generator=gen), torch.randint(0, 3, (4, 6), generator=gen)
    h = _exact_hessian(model, inputs, targets)
    hvp = HessianVectorProduct(model, inputs, targets)
    v = [torch.randn(p.shape, generator=gen, dtype=torch.float64) for p in hvp.params]
    flat_v = torch.cat([x.reshape(-1) for x in v]).numpy()
    np.testing.assert_allclose(torch.cat([x.reshape(-1) for x in hvp(v)]).numpy(), h @ flat_v,
                               rtol=1e-10, atol=1e-12)

    exact_h2 = float(np.max(np.abs(np.linalg.eigvalsh(h))))
    h2, history = spectral_norm_estimate(hvp, iterations=300)
    assert h2 <= exact_h2 * (1 + 1e-9) and h2 == pytest.approx(exact_h2, rel=1e-4)

    signs = np.array(list(itertools.product((-1.0, 1.0), repeat=h.shape[0])))
    exact_hinf = float(np.max(np.abs(signs @ h).sum(axis=1)))  # max_v ||Hv||_1 over the cube
    hinf, history = linf_to_l1_estimate(hvp, iterations=20)
    assert hinf <= exact_hinf * (1 + 1e-9), "cube ascent is a lower bound"
    assert all(b >= a * (1 - 1e-12) for a, b in zip(history, history[1:])), "never decreases"
    assert exact_h2 <= exact_hinf <= h.shape[0] * exact_h2

    estimate = estimate_smoothness(model, inputs, targets, iterations=5)
    assert estimate.dim == 12 and estimate.hinf_per_dim == estimate.hinf / 12


def test_smoothness_estimates_reject_bad_iterations():
    model = _Bigram()
    tokens = torch.zeros(1, 2, dtype=torch.long)
    hvp = HessianVectorProduct(model, tokens, tokens)
    for estimate in (spectral_norm_estimate, linf_to_l1_estimate):
        with pytest.raises(ValueError, match="iterations"):
            estimate(hvp, iterations=0)


def _fake_run(optimizer, lr, rotated, final_loss, status="complete"):
    from types import SimpleNamespace

    config = SimpleNamespace(optimizer=optimizer, lr=lr, rotated=rotated)
    return SimpleNamespace(config=config, summary=SimpleNamespace(final_loss=final_loss),
                           complete=status == "complete")


def test_best_learning_rates_drop_a_rate_that_diverged_in_either_basis():
    from implicit_bias.ptb.analysis import best_learning_rates

    runs = [_fake_run("sgd", 0.3, False, 2.0), _fake_run("sgd", 0.3, True, 2.1),
            _fake_run("sgd", 0.6, False, float("nan"), status="diverged"),
            _fake_run("sgd", 0.6, True, 0.2),  # better, but its twin diverged
            _fake_run("adam", 0.01, False, 0.5), _fake_run("adam", 0.03, False, 0.5),  # a tie
            _fake_run("adam", 0.01, True, 0.9), _fake_run("adam", 0.03, True, 0.4)]
    best = best_learning_rates(runs)
    assert {k: v.config.lr for k, v in best.items()} == {
        ("sgd", False): 0.3, ("sgd", True): 0.3, ("adam", False): 0.01, ("adam", True): 0.03}
