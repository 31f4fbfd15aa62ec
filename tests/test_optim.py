"""Tests of :mod:`implicit_bias.optim`: equivalence with ``torch.optim`` on real models, argument
validation, checkpoint round trip, the ``eps = 0`` convention 0/0 := 0, loss-scale invariance, and
NormalizedSteepestDescent against the NumPy reference ``steepest.nsd_wd_step``."""

from __future__ import annotations

import copy
import io
import math

import numpy as np
import pytest
import torch

from implicit_bias import optim
from implicit_bias.adamw import run_adamw
from implicit_bias.steepest import nsd_wd_step

STEPS = 200  # "hundreds of steps": long enough for any per-step discrepancy to show
# Relative parameter mismatch allowed after STEPS steps.  Both implementations issue the same
# foreach kernels with the same scalars, so in practice the runs agree bit for bit; the tolerance
# only leaves room for a different kernel order in a future torch.
TOL_MATCH = {torch.float32: 1e-5, torch.float64: 1e-12}

torch.set_num_threads(1)  # tiny models: threads only add overhead on a shared machine


# ----------------------------------------------------------------------------- models and runs
def make_mlp(dtype, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32),
                               torch.nn.GELU(), torch.nn.Linear(32, 3)).to(dtype)


class TinyTransformer(torch.nn.Module):
    """One Transformer encoder layer (attention + MLP + LayerNorm) and a linear read-out."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32,
                                                      dropout=0.0, batch_first=True)
        self.out = torch.nn.Linear(16, 3)

    def forward(self, x):
        return self.out(self.layer(x).mean(dim=1))


def make_transformer(dtype, seed=0):
    torch.manual_seed(seed)
    return TinyTransformer().to(dtype)


def make_data(model_kind, dtype, seed=1):
    gen = torch.Generator().manual_seed(seed)
    shape = (16, 8) if model_kind == "mlp" else (8, 5, 16)
    x = torch.randn(shape, generator=gen, dtype=dtype)
    y = torch.randint(0, 3, (shape[0],), generator=gen)
    return x, y


MODELS = {"mlp": make_mlp, "transformer": make_transformer}


def train(model, optimizer, data, steps, loss_scale=1.0):
    """Full-batch training; returns the flattened parameters after every step."""
    x, y = data
    trajectory = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_scale * torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        trajectory.append(flat(model).clone())
    return torch.stack(trajectory)


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def rel_diff(a, b):
    return float((a - b).abs().max() / b.abs().max())


def run_pair(kind, dtype, make_ours, make_ref, steps=STEPS):
    data = make_data(kind, dtype)
    ours_model, ref_model = MODELS[kind](dtype), MODELS[kind](dtype)
    ours = train(ours_model, make_ours(ours_model.parameters()), data, steps)
    ref = train(ref_model, make_ref(ref_model.parameters()), data, steps)
    return ours, ref


# ----------------------------------------------------------------------------- torch equivalence
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["mlp", "transformer"])
@pytest.mark.parametrize("ours_cls, torch_cls, hp", [
    (optim.AdamW, torch.optim.AdamW, dict(lr=3e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.5)),
    (optim.AdamL2, torch.optim.Adam, dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.3)),
])
def test_bias_corrected_matches_torch(ours_cls, torch_cls, hp, kind, dtype):
    """AdamW == torch.optim.AdamW and AdamL2 == torch.optim.Adam with bias_correction=True."""
    ours, ref = run_pair(kind, dtype, lambda ps: ours_cls(ps, bias_correction=True, **hp),
                         lambda ps: torch_cls(ps, foreach=True, **hp))
    assert rel_diff(ours, ref) <= TOL_MATCH[dtype]
    assert rel_diff(ours[-1], ours[0]) > 1e-2  # the run did move: the comparison is not vacuous


def test_adam_is_adaml2_without_weight_decay():
    hp = dict(lr=1e-2, betas=(0.9, 0.99), eps=1e-8, bias_correction=True)
    ours, ref = run_pair("mlp", torch.float64, lambda ps: optim.Adam(ps, **hp),
                         lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.9, 0.99), eps=1e-8),
                         steps=50)
    assert rel_diff(ours, ref) <= TOL_MATCH[torch.float64]


def test_parameter_that_gets_gradients_late_uses_its_own_step_like_torch():
    """Per-parameter step counts: a tensor first updated at step 6 is bias-corrected from t=1."""
    hp = dict(lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    results = []
    for make in (lambda ps: optim.AdamW(ps, bias_correction=True, **hp),
                 lambda ps: torch.optim.AdamW(ps, foreach=True, **hp)):
        torch.manual_seed(0)
        a, b = torch.nn.Parameter(torch.randn(4, dtype=torch.float64)), \
            torch.nn.Parameter(torch.randn(3, dtype=torch.float64))
        opt = make([a, b])
        for t in range(12):
            opt.zero_grad(set_to_none=True)
            loss = (a ** 2).sum() + ((b ** 3).sum() if t >= 5 else 0.0)
            loss.backward()
            opt.step()
        results.append(torch.cat([a.detach(), b.detach()]))
    assert rel_diff(results[0], results[1]) <= TOL_MATCH[torch.float64]


def test_adamw_without_bias_correction_matches_numpy_algorithm_1():
    """Algorithm 1 in torch (float64) equals the NumPy reference ``adamw.run_adamw``."""
    rng = np.random.default_rng(0)
    hessian = rng.normal(size=(5, 5))
    hessian = hessian @ hessian.T / 5 + np.eye(5)
    center = rng.normal(size=5) * 3
    x0 = rng.normal(size=5)
    lrs = 0.05 / np.sqrt(np.arange(1, 201))
    hyper = dict(betas=(0.9, 0.95), eps=0.0, weight_decay=1.0)
    reference = run_adamw(lambda x: hessian @ (x - center), x0, lrs, **hyper)
    ours = optim.run_torch_optimizer(lambda x: hessian @ (x - center), x0, lrs, **hyper)
    assert np.max(np.abs(ours.final - reference.final)) <= 1e-12


# ----------------------------------------------------------------------------- validation
ERROR_INPUTS = [
    # (keyword arguments, the parameter the message must name)
    (dict(lr=-1e-3), "lr"),
    (dict(lr=float("nan")), "lr"),
    (dict(lr=float("inf")), "lr"),
    (dict(betas=(-0.1, 0.99)), "beta1"),
    (dict(betas=(1.0, 0.99)), "beta1"),
    (dict(betas=(0.9, 1.0)), "beta2"),
    (dict(betas=(0.9, -1e-9)), "beta2"),
    (dict(betas=(float("nan"), 0.9)), "beta1"),
    (dict(betas=(0.9, float("nan"))), "beta2"),
    (dict(betas=(0.9,)), "betas"),
    (dict(betas=0.9), "betas"),
    (dict(eps=-1e-8), "eps"),
    (dict(eps=float("nan")), "eps"),
    (dict(weight_decay=-0.1), "weight_decay"),
    (dict(weight_decay=float("nan")), "weight_decay"),
    (dict(weight_decay=float("inf")), "weight_decay"),
]


@pytest.mark.parametrize("cls", [optim.AdamW, optim.AdamL2, optim.Adam])
@pytest.mark.parametrize("kwargs, name", ERROR_INPUTS)
def test_adam_family_rejects_invalid_arguments(cls, kwargs, name):
    params = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match=name):
        cls(params, **kwargs)


@pytest.mark.parametrize("kwargs, name", [
    (dict(lr=-1.0), "lr"), (dict(lr=float("nan")), "lr"),
    (dict(lr=0.1, weight_decay=-1.0), "weight_decay"),
    (dict(lr=0.1, weight_decay=float("nan")), "weight_decay"),
    (dict(lr=0.5, weight_decay=3.0), "weight_decay"),  # lr * weight_decay > 1 flips the decay sign
    (dict(lr=0.1, norm="l0"), "norm"),
])
def test_nsd_rejects_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        optim.NormalizedSteepestDescent([torch.nn.Parameter(torch.zeros(2))], **kwargs)


def test_valid_boundary_values_are_accepted():
    params = [torch.nn.Parameter(torch.zeros(2))]
    optim.AdamW(params, lr=0.0, betas=(0.0, 0.0), eps=0.0, weight_decay=0.0)
    optim.NormalizedSteepestDescent(params, lr=1.0, weight_decay=1.0)  # lr * wd = 1 is allowed


# ----------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("cls, extra", [(optim.AdamW, dict(bias_correction=False, eps=0.0)),
                                        (optim.AdamW, dict(bias_correction=True)),
                                        (optim.AdamL2, dict(bias_correction=True))])
def test_state_dict_round_trip_gives_identical_subsequent_steps(cls, extra):
    hp = dict(lr=3e-3, betas=(0.9, 0.95), weight_decay=0.5, **extra)
    data = make_data("transformer", torch.float32)
    model = make_transformer(torch.float32)
    opt = cls(model.parameters(), **hp)
    train(model, opt, data, 20)
    buffer = io.BytesIO()  # a real checkpoint: serialise model and optimizer, as the PTB trainer does
    torch.save({"model": model.state_dict(), "optim": opt.state_dict()}, buffer)
    continued = train(model, opt, data, 20)

    buffer.seek(0)
    checkpoint = torch.load(buffer)
    resumed_model = make_transformer(torch.float32, seed=123)  # different init, overwritten below
    resumed_model.load_state_dict(checkpoint["model"])
    resumed_opt = cls(resumed_model.parameters(), **hp)
    resumed_opt.load_state_dict(checkpoint["optim"])
    resumed = train(resumed_model, resumed_opt, data, 20)
    torch.testing.assert_close(resumed, continued, rtol=0, atol=0)


def test_resuming_from_a_torch_adamw_checkpoint_continues_torch_run():
    """Our state names match torch's, so a torch checkpoint (tensor ``step``) can be resumed."""
    hp = dict(lr=3e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.5)
    data = make_data("mlp", torch.float64)
    model = make_mlp(torch.float64)
    ref_opt = torch.optim.AdamW(model.parameters(), foreach=True, **hp)
    train(model, ref_opt, data, 30)
    twin = copy.deepcopy(model)
    ours_opt = optim.AdamW(twin.parameters(), bias_correction=True, **hp)
    # deepcopy: load_state_dict keeps the given tensors, and both runs must not share moments
    ours_opt.load_state_dict(copy.deepcopy(ref_opt.state_dict()))
    assert rel_diff(train(twin, ours_opt, data, 30), train(model, ref_opt, data, 30)) <= 1e-12


# ----------------------------------------------------------------------------- eps = 0
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias_correction", [False, True])
def test_eps_zero_coordinates_with_zero_gradient_get_no_update_and_no_nan(dtype, bias_correction):
    """0/0 := 0: weights reading an input feature that is always 0 have gradient exactly 0."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 2).to(dtype)
    x = torch.randn(32, 4, dtype=dtype)
    x[:, 2] = 0.0  # feature 2 is dead: d loss / d W[:, 2] == 0 exactly
    w_0 = layer.weight.detach().clone()
    w_dead_0 = w_0[:, 2]
    lam, lr, steps = 0.5, 1e-2, 50
    opt = optim.AdamW(layer.parameters(), lr=lr, betas=(0.9, 0.99), eps=0.0, weight_decay=lam,
                      bias_correction=bias_correction)
    for _ in range(steps):
        opt.zero_grad()
        layer(x).pow(2).mean().backward()
        opt.step()
    assert all(torch.isfinite(p).all() for p in layer.parameters())
    # only the decoupled weight decay acts on the dead coordinates
    expected = w_dead_0 * (1 - lr * lam) ** steps
    torch.testing.assert_close(layer.weight[:, 2].detach(), expected, rtol=1e-5, atol=0)
    decay_only = w_0 * (1 - lr * lam) ** steps
    assert (layer.weight[:, 0] - decay_only[:, 0]).abs().min() > 1e-3  # live coordinates trained


def test_eps_zero_mixed_dtypes_in_one_group():
    a = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    b = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
    opt = optim.AdamW([a, b], lr=0.1, eps=0.0)
    a.grad, b.grad = torch.tensor([0.0, 1.0]), torch.tensor([0.0, 1e-100], dtype=torch.float64)
    opt.step()
    assert a[0] == 1.0 and b[0] == 1.0  # 0/0 := 0
    # 1e-100 has sqrt(v) ~ 3e-102, far below float32's tiny: it must not be clamped
    torch.testing.assert_close(b[1].detach(), torch.tensor(2.0 - 0.1 * (0.1 / 0.001 ** 0.5),
                                                            dtype=torch.float64))


# ----------------------------------------------------------------------------- loss scale
def _scaled_runs(cls, scale, dtype=torch.float64, steps=100):
    data = make_data("mlp", dtype)
    runs = []
    for c in (1.0, scale):
        model = make_mlp(dtype)
        opt = cls(model.parameters(), lr=1e-2, betas=(0.9, 0.95), eps=0.0, weight_decay=1.0)
        runs.append(train(model, opt, data, steps, loss_scale=c))
    return runs


@pytest.mark.parametrize("scale", [1024.0, 1e-3, 37.0])
def test_adamw_eps0_is_invariant_to_loss_scale(scale):
    """m_t / sqrt(v_t) is homogeneous of degree 0 in the gradients, so with eps = 0 multiplying the
    loss by c > 0 changes nothing (exactly for powers of two, to round-off otherwise)."""
    base, scaled = _scaled_runs(optim.AdamW, scale)
    tol = 0.0 if math.log2(scale).is_integer() else 1e-9  # chaotic growth of 1-ulp differences
    assert rel_diff(scaled, base) <= tol


def test_adaml2_is_not_invariant_to_loss_scale():
    """Adam-l2 mixes lambda*x (unscaled) into the gradient, so the loss scale changes the run."""
    base, scaled = _scaled_runs(optim.AdamL2, 1e-3)
    assert rel_diff(scaled, base) > 1e-2


# ----------------------------------------------------------------------------- NSD
def _nsd_reference(model, norm, lr, wd, steps, data):
    """Same run with the NumPy Eq. (1) step on the flattened parameter vector."""
    x_in, y = data
    x = flat(model).numpy().copy()
    out = []
    for _ in range(steps):
        torch.nn.utils.vector_to_parameters(torch.tensor(x), model.parameters())
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x_in), y).backward()
        grad = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).numpy()
        x = nsd_wd_step(x, grad, lr, wd, norm)
        out.append(x.copy())
    return np.array(out)


@pytest.mark.parametrize("norm", ["linf", "l2", "l1", 3.0])
def test_nsd_matches_numpy_eq1_on_the_flattened_vector(norm):
    lr, wd, steps = 1e-2, 0.5, 40
    data = make_data("mlp", torch.float64)
    model = make_mlp(torch.float64)
    groups = [{"params": list(model.parameters())[:2]}, {"params": list(model.parameters())[2:]}]
    ours = train(model, optim.NormalizedSteepestDescent(groups, lr=lr, norm=norm, weight_decay=wd),
                 data, steps).numpy()
    reference = _nsd_reference(make_mlp(torch.float64), norm, lr, wd, steps, data)
    assert np.max(np.abs(ours - reference)) <= 1e-12


def test_nsd_l2_direction_is_global_not_per_tensor():
    a = torch.nn.Parameter(torch.zeros(1))
    b = torch.nn.Parameter(torch.zeros(1))
    opt = optim.NormalizedSteepestDescent([a, b], lr=1.0, norm="l2")
    a.grad, b.grad = torch.tensor([3.0]), torch.tensor([4.0])
    opt.step()
    torch.testing.assert_close(torch.cat([a, b]).detach(), torch.tensor([-0.6, -0.8]))


def test_nsd_l2_survives_gradients_whose_norm_overflows():
    a = torch.nn.Parameter(torch.zeros(2))
    opt = optim.NormalizedSteepestDescent([a], lr=1.0, norm="l2")
    a.grad = torch.tensor([3e38, 3e38])  # finite in float32, but ||g||_2 = 4.2e38 is not
    opt.step()
    torch.testing.assert_close(a.detach(), torch.full((2,), -0.5 ** 0.5))


def test_nsd_rejects_groups_with_different_learning_rates():
    a, b = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
    opt = optim.NormalizedSteepestDescent([{"params": [a]}, {"params": [b], "lr": 0.2}], lr=0.1)
    a.grad, b.grad = torch.ones(1), torch.ones(1)
    with pytest.raises(ValueError, match="lr"):
        opt.step()


# ----- Lion, Signum and spectral NSD (book: ch-many-optimizers) -----------------------------

from implicit_bias.optim import Lion, NormalizedSteepestDescent, polar_factor  # noqa: E402


def lion_reference(x0, grads, lr, betas, wd):
    """Chen et al. (2023), Algorithm 2, written out in float64 NumPy."""
    b1, b2 = betas
    x, m, xs = x0.copy(), np.zeros_like(x0), []
    for g in grads:
        c = b1 * m + (1 - b1) * g
        x = (1 - lr * wd) * x - lr * np.sign(c)
        m = b2 * m + (1 - b2) * g
        xs.append(x.copy())
    return np.array(xs)


@pytest.mark.parametrize("betas", [(0.9, 0.99), (0.95, 0.98), (0.99, 0.9), (0.0, 0.0)])
def test_lion_matches_the_formula(betas):
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(7)
    grads = rng.standard_normal((40, 7))
    grads[:, 0] = 0.0  # a coordinate with zero gradients: sign(0) = 0, only decay
    param = torch.nn.Parameter(torch.tensor(x0))
    opt = Lion([param], lr=0.03, betas=betas, weight_decay=2.0)
    xs = []
    for g in grads:
        param.grad = torch.tensor(g)
        opt.step()
        xs.append(param.detach().numpy().copy())
    np.testing.assert_allclose(xs, lion_reference(x0, grads, 0.03, betas, 2.0), rtol=0, atol=1e-14)


def test_lion_matches_lion_pytorch():
    """lion-pytorch (lucidrains), the reference PyPI implementation: identical float32 steps."""
    lion_pytorch = pytest.importorskip("lion_pytorch")
    torch.manual_seed(0)
    a = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(4))]
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    ours = Lion(a, lr=1e-2, betas=(0.9, 0.99), weight_decay=1.5)
    theirs = lion_pytorch.Lion(b, lr=1e-2, betas=(0.9, 0.99), weight_decay=1.5)
    for _ in range(50):
        for p, q in zip(a, b):
            g = torch.randn_like(p)
            p.grad, q.grad = g.clone(), g.clone()
        ours.step()
        theirs.step()
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6)  # foreach lerp vs mul/add: float32 ulps


def test_lion_stays_in_the_linf_ball_for_any_betas():
    torch.manual_seed(0)
    for betas in [(0.9, 0.99), (0.99, 0.9), (0.0, 0.999)]:
        p = torch.nn.Parameter(5 * torch.randn(50, dtype=torch.float64))
        opt = Lion([p], lr=0.05, betas=betas, weight_decay=2.0)
        for t in range(300):
            p.grad = torch.randn(50, dtype=torch.float64) * 10 ** float(torch.randint(-3, 3, ()))
            opt.step()
        assert float(p.detach().abs().max()) <= 0.5 + 1e-12


@pytest.mark.parametrize("kwargs, name", [
    (dict(lr=-1.0), "lr"), (dict(lr=1.0, weight_decay=2.0), "lr \\* weight_decay"),
    (dict(betas=(1.0, 0.9)), "beta1"), (dict(betas=(0.9, -0.1)), "beta2"),
    (dict(weight_decay=-1.0), "weight_decay"), (dict(lr=float("nan")), "lr")])
def test_lion_rejects_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Lion([torch.nn.Parameter(torch.zeros(2))], **kwargs)


def test_lion_checks_decay_at_step_time():
    p = torch.nn.Parameter(torch.zeros(2))
    opt = Lion([p], lr=0.1, weight_decay=1.0)
    opt.param_groups[0]["lr"] = 2.0
    p.grad = torch.ones(2)
    with pytest.raises(ValueError, match="weight_decay"):
        opt.step()


def test_signum_is_sign_of_the_momentum():
    rng = np.random.default_rng(2)
    grads = rng.standard_normal((20, 5))
    p = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    opt = NormalizedSteepestDescent([p], lr=0.1, norm="linf", weight_decay=1.0, momentum=0.9)
    x, m = np.zeros(5), np.zeros(5)
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
        m = 0.9 * m + 0.1 * g
        x = 0.9 * x - 0.1 * np.sign(m)
    np.testing.assert_allclose(p.detach().numpy(), x, atol=1e-14, rtol=0)


def test_spectral_nsd_is_exact_polar_per_matrix_and_sign_elsewhere():
    rng = np.random.default_rng(3)
    w0, v0 = rng.standard_normal((6, 4)), rng.standard_normal(4)
    w, v = torch.nn.Parameter(torch.tensor(w0)), torch.nn.Parameter(torch.tensor(v0))
    opt = NormalizedSteepestDescent([w, v], lr=0.1, norm="spectral", weight_decay=0.5)
    gw, gv = rng.standard_normal((6, 4)), rng.standard_normal(4)
    w.grad, v.grad = torch.tensor(gw), torch.tensor(gv)
    opt.step()
    from implicit_bias.steepest import nsd_wd_step
    np.testing.assert_allclose(w.detach().numpy(), nsd_wd_step(w0, gw, 0.1, 0.5, "spectral"), atol=1e-14, rtol=0)
    np.testing.assert_allclose(v.detach().numpy(), nsd_wd_step(v0, gv, 0.1, 0.5, "linf"), atol=1e-14, rtol=0)
    d = polar_factor(torch.tensor(gw))
    np.testing.assert_allclose(torch.linalg.svdvals(d).numpy(), 1.0, rtol=1e-5, atol=0)


@pytest.mark.parametrize("shape, rank, dtype", [
    ((6, 4), 4, torch.float64), ((6, 4), 4, torch.float32), ((5, 7), 2, torch.float64),
    ((3, 3), 0, torch.float32),
])  # rank-deficient only in float64: rounding to float32 makes it full rank but ill-conditioned
def test_polar_factor_has_one_home_for_arrays_and_tensors(shape, rank, dtype):
    # optim.polar_factor is norms.polar_factor: on a tensor it keeps dtype and device and agrees
    # with the NumPy result on the same (float64) input, up to LAPACK round-off and one rounding
    import implicit_bias.norms as norms_module

    assert polar_factor is norms_module.polar_factor
    rng = np.random.default_rng(7)
    g = torch.tensor(rng.standard_normal((shape[0], rank)) @ rng.standard_normal((rank, shape[1])),
                     dtype=dtype)
    from_tensor = polar_factor(g)
    from_array = norms_module.polar_factor(g.double().numpy())
    assert from_tensor.dtype == dtype and from_tensor.shape == shape
    assert np.linalg.matrix_rank(from_array) == rank
    torch.testing.assert_close(from_tensor, torch.from_numpy(from_array).to(dtype))


def test_nsd_rejects_nuclear_and_bad_momentum():
    with pytest.raises(ValueError, match="norm"):
        NormalizedSteepestDescent([torch.nn.Parameter(torch.zeros(2, 2))], lr=0.1, norm="nuclear")
    with pytest.raises(ValueError, match="momentum"):
        NormalizedSteepestDescent([torch.nn.Parameter(torch.zeros(2))], lr=0.1, momentum=1.0)
