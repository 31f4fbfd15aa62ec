"""implicit_bias.monitor inside real training loops: nothing raises, every standard setup is
reported right, and the radius is never below the iterates of a converged run.  CPU only."""

import math
import os
import socket
import warnings

import numpy as np
import pytest
import torch

import implicit_bias
from implicit_bias import bounds, kkt, optim
from implicit_bias.monitor import ConstraintMonitor, ConstraintWarning, constraint_report

X = torch.randn(32, 6, generator=torch.Generator().manual_seed(1))
Y = torch.randn(32, 2, generator=torch.Generator().manual_seed(2))


def mlp(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(),
                               torch.nn.Linear(12, 2)).to(dtype)


def step(model, opt):
    opt.zero_grad()
    ((model(X.to(next(model.parameters()).dtype)) - Y.to(next(model.parameters()).dtype)) ** 2
     ).mean().backward()
    opt.step()


def rows_by_name(report):
    return {r["name"]: r for r in report}


def constraint_warnings(caught):
    return [str(w.message) for w in caught if issubclass(w.category, ConstraintWarning)]


def test_the_package_exposes_monitor():
    assert implicit_bias.monitor.constraint_report is constraint_report


# ----------------------------------------------------------------------------- never crash
@pytest.mark.parametrize("betas", [(0.9, 0.9), (0.9, 0.999)])
def test_a_warm_up_from_lr_zero_runs_and_reports(betas):
    model = mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=0.0, betas=betas, weight_decay=0.5)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: min(1.0, t / 5))  # lr 0 at step 0
    mon = ConstraintMonitor(model, opt, every=2)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        constraint_report(model, opt)  # lr = 0 now: no ValueError
        for _ in range(12):
            step(model, opt)
            mon()
            sched.step()
    row = mon.report()[0]
    assert math.isfinite(row["radius"]) and row["rule"] in ("β1 = β2: 1/λ", "sharp M/λ")
    # the lr changed, so Lemma 4.3 (constant lr) is not used; M/lambda holds for any schedule
    assert row["radius"] == bounds.bias_corrected_update_size(betas) / 0.5


def test_nan_weights_and_nan_moments_are_reported_not_raised():
    model = mlp()
    opt = optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.99), eps=0.0, weight_decay=1.0)
    mon = ConstraintMonitor(model, opt, every=1)
    step(model, opt)
    mon()
    with torch.no_grad():
        model[0].weight[0, 0] = math.nan
        opt.state[model[2].weight]["exp_avg_sq"][0, 0] = math.inf
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mon()  # a NaN/inf inside the run: recorded, not raised
        report = mon.report()
    rows = rows_by_name(report)
    assert math.isnan(rows["0.weight"]["value"]) and "non-finite" in rows["0.weight"]["note"]
    assert not rows["0.weight"]["trained"] or rows["0.weight"]["kkt_residual"] is None
    assert rows["2.weight"]["rule"] == "sharp M/λ"  # the range of v is not finite: no Lemma 4.3
    assert "second moment not finite" in rows["2.weight"]["note"]
    assert any("not measured (non-finite entries)" in m for m in constraint_warnings(caught))
    assert mon.history[-1]["worst_tensor"] != "0.weight"  # an unmeasurable tensor is not "worst"


def test_float16_meta_and_empty_tensors_are_reported_not_raised():
    model = mlp(dtype=torch.float16)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1.0)  # eps = 1e-8 -> 0 in fp16
    step(model, opt)  # v underflows to 0 and 0/0 makes inf weights: a real float16 failure
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = constraint_report(model, opt)
    assert all(math.isfinite(r["value"]) or "non-finite entries" in r["note"] for r in rows)
    assert any(not math.isfinite(r["value"]) for r in rows) and constraint_warnings(caught)
    model = mlp(dtype=torch.float16)
    opt = optim.Lion(model.parameters(), lr=1e-2, weight_decay=1.0)
    step(model, opt)
    rows = constraint_report(model, opt)
    assert rows[0]["value"] == float(model[0].weight.detach().abs().max())

    with torch.device("meta"):
        meta = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(meta.parameters(), weight_decay=0.1)
    with pytest.warns(ConstraintWarning, match="meta tensor"):
        rows = constraint_report(meta, opt)
    assert all(math.isnan(r["value"]) and "meta tensor" in r["note"] for r in rows)

    empty = torch.nn.Parameter(torch.empty(0, 3))
    full = torch.nn.Parameter(torch.ones(2))
    opt = optim.Lion([empty, full], lr=0.1, weight_decay=1.0)
    with pytest.warns(ConstraintWarning, match="empty tensor"):
        rows = constraint_report([("empty", empty), ("full", full)], opt)
    assert math.isnan(rows[0]["value"]) and rows[1]["value"] == 1.0


def test_an_unexpected_error_inside_the_monitor_skips_the_step(monkeypatch):
    model = mlp()
    opt = optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.9), eps=0.0, weight_decay=1.0)
    mon = ConstraintMonitor(model, opt, every=1)
    from implicit_bias.monitor import tracking

    def broken(*args, **kwargs):
        raise RuntimeError("device lost")

    monkeypatch.setattr(tracking, "build_report", broken)
    step(model, opt)
    with pytest.warns(ConstraintWarning, match="skipped step 1: RuntimeError: device lost"):
        mon()
    assert mon.step == 1 and mon.history == []


def test_caller_errors_still_raise_one_clear_error():
    model = mlp()
    with pytest.raises(TypeError, match="expected a torch.optim.Optimizer"):
        ConstraintMonitor(model, model)
    other = mlp(seed=1)
    with pytest.raises(ValueError, match="none of the given parameters is in the optimizer"):
        ConstraintMonitor(model, torch.optim.AdamW(other.parameters()))
    with pytest.raises(ValueError, match="eps_tolerance must lie in"):
        constraint_report(model, torch.optim.AdamW(model.parameters()), eps_tolerance=-1)


# ----------------------------------------------------------------------------- setups
class WithExtras(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Linear(6, 2)
        self.frozen = torch.nn.Linear(6, 2)
        self.frozen.requires_grad_(False)
        self.unused = torch.nn.Linear(6, 2)

    def forward(self, x):
        return self.body(x) + self.frozen(x)


def test_frozen_and_unused_tensors_are_untrained_and_not_the_worst():
    model = WithExtras()
    with torch.no_grad():
        model.frozen.weight.fill_(50.0)  # far outside 1/lambda: must not be called the worst
        model.unused.weight.fill_(40.0)
    opt = optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.9), eps=0.0, weight_decay=1.0)
    for _ in range(3):
        opt.zero_grad()
        ((model(X) - Y) ** 2).mean().backward()
        opt.step()
    report = constraint_report(model, opt)
    rows = rows_by_name(report)
    assert not rows["frozen.weight"]["trained"] and "frozen" in rows["frozen.weight"]["note"]
    assert not rows["unused.weight"]["trained"] and "never had a gradient" in rows["unused.weight"]["note"]
    assert rows["body.weight"]["trained"]
    (summary,) = report.by_group()
    assert summary["worst_tensor"].startswith("body.")
    assert "body." in report.summary() and "4 untrained" in report.summary()


def test_tensors_outside_the_optimizers_are_skipped_and_counted():
    model = mlp()
    matrices = [p for p in model.parameters() if p.ndim == 2]
    muon = torch.optim.Muon(matrices, lr=0.02, weight_decay=1.0)
    step(model, muon)
    report = constraint_report(model, muon)
    assert [r["name"] for r in report] == ["0.weight", "2.weight"]
    assert report.skipped == ["0.bias", "2.bias"]
    assert report.summary().endswith("2 not trained by these optimizers (skipped)")


def test_weight_decay_zero_and_negative_show_the_reason_in_the_table():
    model = mlp()
    opt = torch.optim.AdamW([{"params": model[0].parameters(), "weight_decay": 0.0},
                             {"params": model[2].parameters()}], lr=1e-2)
    opt.param_groups[1]["weight_decay"] = -0.5  # put in by hand: torch does not check
    step(model, opt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = constraint_report(model, opt)
    rows = rows_by_name(report)
    assert rows["0.weight"]["radius"] == math.inf and rows["0.weight"]["ratio"] == 0.0
    assert rows["2.weight"]["radius"] == math.inf and rows["2.weight"]["kkt_residual"] is None
    table = report.table()
    assert "weight decay 0: no constraint" in table and "negative weight decay" in table
    assert "∞" in table
    messages = constraint_warnings(caught)
    assert any("group 0: weight decay 0" in m for m in messages)
    assert any("group 1: weight decay -0.5 < 0" in m for m in messages)


def test_plain_adam_without_decay_is_not_called_l2_coupled():
    model = mlp()
    opt = torch.optim.Adam(model.parameters())
    step(model, opt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        constraint_report(model, opt)
    messages = constraint_warnings(caught)
    assert messages and not any("ℓ2-coupled" in m for m in messages), messages
    assert any("weight decay 0" in m for m in messages)


def test_maximize_flips_the_gradient_of_the_kkt_residual():
    # x = (0.5, -0.5) on the face of the box 1/lambda = 0.5; maximizing L means minimizing -L,
    # whose gradient -p.grad = (-1, 1) = -lambda x / ||x||: a KKT point of min -L on the box
    x = torch.nn.Parameter(torch.tensor([0.5, -0.5]))
    x.grad = torch.tensor([1.0, -1.0])
    up = torch.optim.AdamW([x], lr=1e-2, betas=(0.9, 0.9), weight_decay=2.0, maximize=True)
    down = torch.optim.AdamW([x], lr=1e-2, betas=(0.9, 0.9), weight_decay=2.0)
    assert constraint_report([("x", x)], up)[0]["kkt_residual"] == 0.0
    assert constraint_report([("x", x)], down)[0]["kkt_residual"] == pytest.approx(2.0)
    assert kkt.kkt_residual([0.5, -0.5], [-1.0, 1.0], 2.0, "linf") == 0.0


# capturable=True needs a CUDA device (torch refuses it on CPU); its tensor lr and step are
# covered by the tensor-lr cases (torch keeps ``step`` as a tensor in every mode)
@pytest.mark.parametrize("options", [dict(amsgrad=True), dict(fused=True), dict(foreach=False),
                                     dict(lr=torch.tensor(1e-2)),
                                     dict(fused=True, lr=torch.tensor(1e-2))])
def test_torch_adamw_options_give_the_same_radius(options):
    model = mlp()
    kwargs = dict(lr=1e-2, betas=(0.9, 0.9), weight_decay=2.0) | options
    opt = torch.optim.AdamW(model.parameters(), **kwargs)
    for _ in range(3):
        step(model, opt)
    mon = ConstraintMonitor(model, opt, every=1)
    mon()
    rows = mon.report()
    assert all(r["radius"] == 0.5 and r["rule"] == "β1 = β2: 1/λ" for r in rows)
    assert all(r["kkt_residual"] is not None for r in rows)
    if options.get("amsgrad"):
        assert all("amsgrad" in r["note"] for r in rows)


def test_compiled_and_ddp_names_are_unwrapped():
    model = mlp()
    opt = optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.9), eps=0.0, weight_decay=1.0)
    compiled = torch.compile(model)  # not run: only its names matter here
    assert [n for n, _ in compiled.named_parameters()][0] == "_orig_mod.0.weight"
    assert [r["name"] for r in constraint_report(compiled, opt)] == \
        [n for n, _ in model.named_parameters()]
    from implicit_bias.monitor.tensors import unwrap_name

    assert unwrap_name("module._fsdp_wrapped_module.layers.0._checkpoint_wrapped_module.weight") \
        == "layers.0.weight"


def test_bfloat16_decay_below_resolution_claims_no_radius():
    w = torch.nn.Parameter(torch.full((4,), 30.0, dtype=torch.bfloat16))
    opt = torch.optim.AdamW([w], lr=1e-3, weight_decay=0.1)  # lambda eta = 1e-4 < 2^-8
    for _ in range(50):
        w.grad = torch.zeros_like(w)
        opt.step()
    assert float(w.detach().float().max()) == 30.0  # the decay never acted: this is the bug
    with pytest.warns(ConstraintWarning, match="below half the resolution of bfloat16"):
        row = constraint_report([("w", w)], opt)[0]
    assert row["radius"] == math.inf and "resolution" in row["note"]
    ok = torch.optim.AdamW([w], lr=0.1, weight_decay=0.1)  # lambda eta = 1e-2: representable
    assert math.isfinite(constraint_report([("w", w)], ok, warn=False)[0]["radius"])


def test_lambda_eta_above_one_warns_on_the_step_it_happens():
    model = mlp()
    opt = optim.Lion(model.parameters(), lr=0.01, weight_decay=1.0)
    mon = ConstraintMonitor(model, opt, every=100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for t in range(5):
            if t == 2:
                opt.param_groups[0]["lr"] = 1.5  # lambda eta = 1.5 > 1
            mon()
    messages = constraint_warnings(caught)
    assert any("λη = 1.5 > 1 at step 3" in m for m in messages), messages
    assert mon.history == []  # found on a step that records nothing


def test_the_three_line_recipe_with_torch_defaults_prints_numbers():
    model = mlp()
    opt = torch.optim.AdamW(model.parameters())
    step(model, opt)
    report = constraint_report(model, opt)
    radius_column = [line.split()[4] for line in report.table().splitlines()[1:]]
    assert all(c != "—" for c in radius_column), radius_column
    assert "sharp M/λ" in report.table()
    assert report[0]["radius"] == pytest.approx(bounds.bias_corrected_update_size((0.9, 0.999)) / 1e-2)


def test_plain_report_under_lemma_4_3_says_it_assumes_a_constant_lr():
    model = mlp()
    opt = optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=0.0, weight_decay=1.0)
    step(model, opt)
    row = constraint_report(model, opt, log_v_range=3.0)[0]
    assert row["rule"] == "Lemma 4.3" and "assumed constant" in row["note"]
    assert row["radius"] == pytest.approx(2.0)  # sqrt(1 + K ln) with K = 1, ln = 3


def test_bias_corrected_lemma_4_3_carries_the_peak_of_theta():
    model = mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.5, 0.6), weight_decay=1.0)
    step(model, opt)
    row = constraint_report(model, opt, log_v_range=1.0)[0]
    cap = float(bounds.asymptotic_iterate_bound((0.5, 0.6), 1e-3, 1.0, 1.0))
    sharp = bounds.bias_corrected_update_size((0.5, 0.6))
    assert bounds.bias_correction_peak((0.5, 0.6)) == pytest.approx(math.sqrt(0.4) / 0.5)
    assert row["radius"] == pytest.approx(min(cap * math.sqrt(0.4) / 0.5, sharp))


def test_beta1_above_beta2_gets_the_sharp_radius_and_a_warning():
    model = mlp()
    opt = optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.85), eps=0.0, weight_decay=2.0)
    step(model, opt)
    with pytest.warns(ConstraintWarning, match=r"within M/λ = 1.19/λ"):
        row = constraint_report(model, opt)[0]
    assert row["radius"] == pytest.approx(1.1902380714 / 2.0) and row["rule"] == "sharp M/λ"
    opt = optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.8), eps=0.0, weight_decay=2.0)
    with pytest.warns(ConstraintWarning, match="β1² ≥ β2 no radius"):
        row = constraint_report(model, opt)[0]
    assert row["radius"] == math.inf and "App. B.3" in row["note"]


def test_monitor_plot_has_one_line_per_bounded_group():
    model = mlp()
    opt = optim.AdamW([{"params": model[0].parameters()},
                       {"params": model[2].parameters(), "weight_decay": 0.0}],
                      lr=1e-2, betas=(0.9, 0.9), eps=0.0, weight_decay=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mon = ConstraintMonitor(model, opt, every=2)
        for _ in range(6):
            step(model, opt)
            mon()
    fig = mon.plot()
    labels = [line.get_label() for line in fig.axes[0].lines if not line.get_label().startswith("_")]
    assert labels == ["AdamW group 0"]  # group 1 has no radius: nothing to plot


# ----------------------------------------------------------------------------- the theory
def test_reported_radius_is_never_below_a_converged_run():
    """Property: under the hypotheses (decoupled decay, lambda eta <= 1, beta1^2 < beta2, here
    also beta1 > beta2), after t >> 1/(lambda eta) steps no weight exceeds the reported radius."""
    rng = np.random.default_rng(0)
    checked = 0
    for trial in range(12):
        beta1 = float(rng.uniform(0.0, 0.95))
        beta2 = float(rng.uniform(beta1 ** 2 + 0.02 * (1 - beta1 ** 2), 0.999))
        lam, lr = float(rng.uniform(0.5, 4.0)), float(rng.uniform(0.01, 0.05))
        corrected = bool(trial % 2)
        torch.manual_seed(trial)
        x = torch.nn.Parameter(torch.randn(64, dtype=torch.float64) * 3 / lam)
        target = torch.randn(64, dtype=torch.float64) * 5 / lam  # outside the box: active
        opt = optim.AdamW([x], lr=lr, betas=(beta1, beta2), eps=0.0, weight_decay=lam,
                          bias_correction=corrected)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # beta1 > beta2 warns, as it should
            mon = ConstraintMonitor([("x", x)], opt, every=50)
        steps = int(30 / (lam * lr))
        worst = 0.0
        for t in range(steps):
            opt.zero_grad()
            ((x - target) ** 2).sum().backward()
            opt.step()
            mon()
            if t > steps // 2:
                worst = max(worst, float(x.detach().abs().max()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            radius = mon.report()[0]["radius"]
        assert worst <= radius * (1 + 1e-9), (trial, beta1, beta2, worst, radius)
        checked += 1
    assert checked == 12


def test_the_sharp_radius_is_attained_on_the_constructed_stream():
    """AdamW fed the extremal geometric stream for ever larger T: lambda |x_T| approaches M."""
    betas, lam, lr = (0.9, 0.95), 1.0, 1e-3
    big_t = 3000
    g = bounds.extremal_gradients(betas, big_t)  # g_s proportional to (beta2/beta1)^s
    m = v = 0.0
    for gs in g:
        m, v = betas[0] * m + (1 - betas[0]) * gs, betas[1] * v + (1 - betas[1]) * gs * gs
    assert abs(m) / math.sqrt(v) == pytest.approx(bounds.max_update_size(betas), rel=1e-9)
    assert bounds.max_update_size(betas) == pytest.approx(1.1649647, rel=1e-6)
    del lam, lr


# ----------------------------------------------------------------------------- distributed
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sharded_worker(rank, world, port, full, grad, out):
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        shard = torch.nn.Parameter(full.chunk(world)[rank].clone())
        shard.grad = grad.chunk(world)[rank].clone()
        opt = optim.Lion([shard], lr=0.01, weight_decay=2.0)
        row = constraint_report([("w", shard)], opt, sharded=True)[0]
        out[rank] = (row["value"], row["saturated"], row["kkt_residual"])
    finally:
        dist.destroy_process_group()


def test_a_sharded_model_reduces_across_two_gloo_ranks():
    import torch.multiprocessing as mp

    torch.manual_seed(0)
    full = torch.rand(10) * 0.8 - 0.4
    full[7] = 0.5  # the largest entry sits in rank 1's shard, on the boundary 1/lambda
    grad = torch.randn(10)
    whole = torch.nn.Parameter(full.clone())
    whole.grad = grad.clone()
    expected = constraint_report([("w", whole)], optim.Lion([whole], lr=0.01, weight_decay=2.0))[0]
    out = mp.Manager().dict()
    mp.start_processes(_sharded_worker, args=(2, _free_port(), full, grad, out), nprocs=2,
                       start_method="fork")
    for rank in range(2):
        value, saturated, residual = out[rank]
        assert value == expected["value"] == 0.5
        assert saturated == expected["saturated"] == 0.1
        assert residual == pytest.approx(expected["kkt_residual"], abs=1e-6)
