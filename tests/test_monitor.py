"""implicit_bias.monitor: the report against hand computations, every optimizer type, parameter
groups, tied weights, warnings, the monitor's records, bad inputs.  CPU only."""

import csv
import math
import re
import warnings

import matplotlib
import numpy as np
import pytest
import torch

from implicit_bias import bounds, kkt, monitor, muon, optim
from implicit_bias.monitor import ConstraintMonitor, ConstraintWarning, constraint_report

matplotlib.use("Agg")


TOL_KKT_FLOAT32 = 2e-6
TOL_SVD = 1e-5  # float32 singular values


def mlp(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, 2))


DATA = (torch.randn(40, 6, generator=torch.Generator().manual_seed(1)),
        torch.randn(40, 2, generator=torch.Generator().manual_seed(2)))


def loss_of(model):
    x, y = DATA
    return ((model(x) - y) ** 2).mean()


def train(model, opts, steps=60, mon=None):
    opts = opts if isinstance(opts, list) else [opts]
    for _ in range(steps):
        for o in opts:
            o.zero_grad()
        loss_of(model).backward()
        for o in opts:
            o.step()
        if mon is not None:
            mon()
    for o in opts:
        o.zero_grad()
    loss_of(model).backward()  # p.grad at the final point, for the KKT residual


def flat64(t):
    return t.detach().double().reshape(-1).numpy()


def by_name(report):
    return {row["name"]: row for row in report}


def check_linf_row(row, p, radius, wd_for_kkt, tol=0.01):
    """The row against a hand computation on the flattened float64 tensor."""
    value = float(torch.cat([p.detach().reshape(-1)]).double().abs().max())
    assert row["norm"] == "linf"
    assert row["value"] == value
    assert row["radius"] == pytest.approx(radius, rel=1e-15)
    assert row["ratio"] == pytest.approx(value / radius, rel=1e-15)
    x = flat64(p)
    assert row["saturated"] == pytest.approx(float(np.mean(np.abs(x) >= (1 - tol) * radius)))
    expected = kkt.kkt_residual(x, flat64(p.grad), wd_for_kkt, "linf")
    # the monitor sums ||g||_1 and <x, g> in float32: absolute error ~1e-7 (documented)
    assert row["kkt_residual"] == pytest.approx(expected, abs=TOL_KKT_FLOAT32)


def test_adamw_equal_betas_matches_hand_computation():
    model = mlp()
    opt = optim.AdamW(model.parameters(), lr=0.05, betas=(0.9, 0.9), eps=0.0, weight_decay=8.0)
    train(model, opt, steps=150)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inside the theorem: no warning at all
        report = constraint_report(model, opt, boundary_tolerance=0.05)
    rows = by_name(report)
    assert list(rows) == [n for n, _ in model.named_parameters()]
    for name, p in model.named_parameters():
        check_linf_row(rows[name], p, 0.125, 8.0, tol=0.05)
    assert max(r["ratio"] for r in report) <= 1 + 1e-6
    assert any(r["saturated"] > 0 for r in report)  # trained to the boundary: a real check
    assert all(isinstance(r["value"], float) for r in report)


def test_no_gradient_gives_no_kkt_residual():
    model = mlp()
    opt = optim.AdamW(model.parameters(), lr=0.01, betas=(0.9, 0.9), eps=0.0, weight_decay=1.0)
    assert all(r["kkt_residual"] is None for r in constraint_report(model, opt))


def test_adamw_unequal_betas_uses_lemma_4_3_with_the_tracked_range():
    model = mlp()
    opt = optim.AdamW(model.parameters(), lr=0.02, betas=(0.9, 0.99), eps=0.0, weight_decay=1.0)
    mon = ConstraintMonitor(model, opt, every=5)
    v_hist = []
    for _ in range(40):
        opt.zero_grad()
        loss_of(model).backward()
        opt.step()
        mon()
        v_hist.append(torch.cat([opt.state[p]["exp_avg_sq"].reshape(-1) for p in
                                 model.parameters()]).double())
    v = torch.stack(v_hist)  # (steps, all coordinates), in parameter order
    sizes = [p.numel() for p in model.parameters()]
    per_tensor = [math.log(float(b[b > 0].max()) / float(b[b > 0].min()))
                  for b in torch.split(v, sizes, dim=1)]  # each tensor's range, by hand
    sharp = bounds.max_update_size((0.9, 0.99)) / 1.0  # M / lambda, no history needed
    for row, log_range in zip(mon.report(), per_tensor):
        cap = float(bounds.asymptotic_iterate_bound((0.9, 0.99), 0.02, 1.0, log_range))
        assert row["radius"] == pytest.approx(min(cap, sharp), rel=1e-9)
        assert row["rule"] == ("Lemma 4.3" if cap < sharp else "sharp M/λ")
    assert mon.history[-1]["log_v_range"] == pytest.approx(max(per_tensor), rel=1e-9)
    # without the range: the sharp bound M / lambda, which needs no history
    row = constraint_report(model, opt)[0]
    assert row["radius"] == sharp and row["rule"] == "sharp M/λ" and "range of v" in row["note"]
    cap = float(bounds.asymptotic_iterate_bound((0.9, 0.99), 0.02, 1.0, max(per_tensor)))
    assert constraint_report(model, opt, log_v_range=max(per_tensor))[0]["radius"] == \
        pytest.approx(min(cap, sharp), rel=1e-9)


def test_per_coordinate_range_is_the_lemma_s_and_at_most_the_group_range():
    model = mlp()
    opt = optim.AdamW(model.parameters(), lr=0.02, betas=(0.9, 0.99), eps=1e-3, weight_decay=1.0)
    params = list(model.parameters())
    fine = monitor.SecondMomentRange(params, eps=1e-3, per_coordinate=True)
    coarse = monitor.SecondMomentRange(params, eps=1e-3)
    hist = []
    for _ in range(30):
        opt.zero_grad()
        loss_of(model).backward()
        opt.step()
        fine.update(opt)
        coarse.update(opt)
        hist.append(torch.cat([(opt.state[p]["exp_avg_sq"].double().sqrt() + 1e-3).square()
                               .reshape(-1) for p in params]))
    h = torch.stack(hist)
    per_coord = float((h.max(0).values.log() - h.min(0).values.log()).max())
    assert fine.log_range() == pytest.approx(per_coord, rel=1e-5)
    per_tensor = [math.log(float(b.max() / b.min()))
                  for b in torch.split(h, [p.numel() for p in params], dim=1)]
    assert coarse.tensor_log_ranges() == pytest.approx(per_tensor, rel=1e-5)
    assert coarse.log_range() == pytest.approx(max(per_tensor), rel=1e-5)
    assert fine.log_range() <= coarse.log_range() * (1 + 1e-6)


def test_lemma_4_3_radius_forms():
    assert monitor.lemma_4_3_radius((0.99, 0.99), 1e-2, 2.0, 30.0) == 0.5
    for betas, lr in (((0.9, 0.999), 1e-3), ((0.9, 0.95), 1e-2)):
        assert monitor.lemma_4_3_radius(betas, lr, 1.0, 7.0) == pytest.approx(
            float(bounds.asymptotic_iterate_bound(betas, lr, 1.0, 7.0)), rel=1e-12)
    # finite t: q^t ||x0|| + bound (5)
    t, q = 400, 1 - 1e-2
    assert monitor.lemma_4_3_radius((0.9, 0.999), 1e-2, 1.0, 30.0, steps=t, x0_norm=1.0) == \
        pytest.approx(q ** t + float(bounds.iterate_bound_from_log_range((0.9, 0.999), 1e-2, 1.0,
                                                                         t, 30.0)))


def test_torch_adamw_defaults():
    model = mlp()
    opt = torch.optim.AdamW(model.parameters())
    mon = ConstraintMonitor(model, opt, every=10)
    train(model, opt, steps=30, mon=mon)
    rows = by_name(mon.report())
    assert all(r["norm"] == "linf" and "bias-corrected" in r["note"] for r in rows.values())
    ranges = dict(zip([n for n, _ in model.named_parameters()],
                      mon._ranges["AdamW group 0"].tensor_log_ranges()))
    for name, p in model.named_parameters():
        # bias correction: Lemma 4.3 times sup theta_t (= 1 at these betas), or sup theta_t M_t
        cap = monitor.lemma_4_3_radius((0.9, 0.999), 1e-3, 1e-2, ranges[name]) \
            * bounds.bias_correction_peak((0.9, 0.999))
        sharp = bounds.bias_corrected_update_size((0.9, 0.999)) / 1e-2
        check_linf_row(rows[name], p, min(cap, sharp), 1e-2)
        assert 100 < rows[name]["radius"] < sharp  # >= 1/lambda: the constraint is inactive


def test_torch_adam_and_adam_l2_imply_no_constraint():
    for make in (lambda p: torch.optim.Adam(p, weight_decay=0.1),
                 lambda p: optim.AdamL2(p, lr=1e-2, weight_decay=0.1)):
        model = mlp()
        opt = make(model.parameters())
        train(model, opt, steps=5)
        name = type(opt).__name__
        with pytest.warns(ConstraintWarning, match=f"{name} group 0: weight decay is ℓ2-coupled"):
            report = constraint_report(model, opt)
        assert all(r["radius"] == math.inf and r["ratio"] == 0.0 and r["kkt_residual"] is None
                   for r in report)
        assert report[0]["value"] == float(next(model.parameters()).detach().abs().max())


def test_torch_adam_with_decoupled_decay_is_adamw():
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.95, 0.95), weight_decay=1.0,
                           decoupled_weight_decay=True)
    train(model, opt, steps=5)
    assert all(r["radius"] == 1.0 for r in constraint_report(model, opt))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.95, 0.95), weight_decay=1.0,
                            amsgrad=True)
    train(model, opt, steps=5)
    rows = constraint_report(model, opt)
    assert all(r["radius"] == 1.0 and "amsgrad" in r["note"] for r in rows)


def test_lion_radius_for_any_betas():
    model = mlp()
    opt = optim.Lion(model.parameters(), lr=0.02, betas=(0.99, 0.9), weight_decay=4.0)
    train(model, opt, steps=200)  # q^200 = 6e-8: past the transient from ||x_0|| = 0.41 > 1/4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # beta1 > beta2 is fine for Lion
        rows = by_name(constraint_report(model, opt))
    for name, p in model.named_parameters():
        check_linf_row(rows[name], p, 0.25, 4.0)
    assert max(r["ratio"] for r in rows.values()) <= 1 + 1e-5  # float32 round-off at the face


def test_nsd_linf_l2_and_spectral():
    model = mlp()
    opt = optim.NormalizedSteepestDescent(model.parameters(), lr=0.01, norm="linf",
                                          weight_decay=2.0)
    train(model, opt, steps=20)
    rows = by_name(constraint_report(model, opt))
    for name, p in model.named_parameters():
        check_linf_row(rows[name], p, 0.5, 2.0)

    model = mlp()
    opt = optim.NormalizedSteepestDescent(model.parameters(), lr=0.01, norm="spectral",
                                          weight_decay=2.0)
    train(model, opt, steps=20)
    rows = by_name(constraint_report(model, opt))
    w = model[0].weight
    sv = torch.linalg.svdvals(w.detach().double())
    row = rows["0.weight"]
    # singular values in the tensor's float32: relative error ~1e-7
    assert row["norm"] == "spectral" and row["value"] == pytest.approx(float(sv[0]), rel=TOL_SVD)
    assert row["radius"] == 0.5 and row["ratio"] == pytest.approx(float(sv[0]) / 0.5, rel=TOL_SVD)
    assert row["kkt_residual"] == pytest.approx(kkt.kkt_residual(
        w.detach().double().numpy(), w.grad.double().numpy(), 2.0, "spectral"), abs=TOL_SVD)
    assert rows["0.bias"]["norm"] == "linf"

    model = mlp()
    opt = optim.NormalizedSteepestDescent(model.parameters(), lr=0.01, norm="l2", weight_decay=2.0)
    train(model, opt, steps=20)
    row = by_name(constraint_report(model, opt))["0.weight"]
    assert row["norm"] == "l2" and "all tensors" in row["note"]
    assert row["value"] == pytest.approx(float(model[0].weight.detach().double().norm()), rel=TOL_SVD)


def test_muon_with_adamw_on_the_rest():
    model = mlp()
    hidden = [p for p in model.parameters() if p.ndim == 2]
    rest = [p for p in model.parameters() if p.ndim != 2]
    opts = [torch.optim.Muon(hidden, lr=0.02, weight_decay=2.0, adjust_lr_fn="match_rms_adamw"),
            optim.AdamW(rest, lr=0.02, betas=(0.95, 0.95), eps=0.0, weight_decay=2.0)]
    train(model, opts, steps=40)
    alone = constraint_report(model, opts[0])  # the biases are trained by the other optimizer
    assert [r["name"] for r in alone] == ["0.weight", "2.weight"]
    assert alone.skipped == ["0.bias", "2.bias"] and "2 not trained by these" in alone.summary()
    rows = by_name(constraint_report(model, opts))
    for name, p in model.named_parameters():
        row = rows[name]
        if p.ndim == 2:
            r = muon.muon_radius(tuple(p.shape), 2.0, "match_rms_adamw")
            sv = float(torch.linalg.svdvals(p.detach().double())[0])
            assert row["norm"] == "spectral" and row["radius"] == pytest.approx(r, rel=1e-15)
            assert row["value"] == pytest.approx(sv, rel=TOL_SVD)
            assert row["group"] == "optimizer 0 Muon group 0"
            assert row["kkt_residual"] == pytest.approx(kkt.kkt_residual(
                p.detach().double().numpy(), p.grad.double().numpy(), 1 / r, "spectral"), abs=TOL_SVD)
        else:
            assert row["group"] == "optimizer 1 AdamW group 0"
            check_linf_row(row, p, 0.5, 2.0)


def test_parameter_groups_get_their_own_radius():
    model = mlp()
    opt = optim.AdamW([{"params": model[0].parameters(), "weight_decay": 1.0},
                       {"params": model[2].parameters(), "weight_decay": 4.0}],
                      lr=0.01, betas=(0.9, 0.9), eps=0.0)
    train(model, opt, steps=5)
    rows = by_name(constraint_report(model, opt))
    assert rows["0.weight"]["radius"] == 1.0 and rows["0.bias"]["group"] == "AdamW group 0"
    assert rows["2.weight"]["radius"] == 0.25 and rows["2.bias"]["group"] == "AdamW group 1"
    check_linf_row(rows["2.weight"], model[2].weight, 0.25, 4.0)


class Tied(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Embedding(7, 4)
        self.decoder = torch.nn.Linear(4, 7, bias=False)
        self.decoder.weight = self.encoder.weight


def test_tied_weights_give_one_row():
    model = Tied()
    opt = optim.AdamW(model.parameters(), lr=0.01, betas=(0.9, 0.9), eps=0.0, weight_decay=1.0)
    assert [r["name"] for r in constraint_report(model, opt)] == ["encoder.weight"]
    pairs = [("enc", model.encoder.weight), ("dec", model.decoder.weight)]
    assert [r["name"] for r in constraint_report(pairs, opt)] == ["enc"]


def test_tensors_and_a_single_tensor_are_accepted():
    w = torch.nn.Parameter(torch.tensor([0.5, -2.0, 1.0]))
    opt = optim.Lion([w], lr=0.1, weight_decay=1.0)
    assert constraint_report(w, opt)[0]["value"] == 2.0
    assert constraint_report([w], opt)[0]["name"] == "param0"


# ----------------------------------------------------------------------------- warnings
def one_step(opt, model):
    opt.zero_grad()
    loss_of(model).backward()
    opt.step()


@pytest.mark.parametrize("make,match", [
    (lambda p: optim.AdamW(p, lr=0.01, betas=(0.99, 0.9), eps=0.0, weight_decay=1.0),
     r"AdamW group 0: β1 = 0.99 > β2 = 0.9"),
    (lambda p: optim.AdamW(p, lr=0.01, betas=(0.9, 0.9), eps=1.0, weight_decay=1.0),
     r"AdamW group 0: ε = 1 is not negligible"),
    (lambda p: torch.optim.AdamW(p, lr=2.0, weight_decay=1.0), r"AdamW group 0: λη = 2 > 1"),
    (lambda p: optim.Lion(p, lr=0.01, weight_decay=0.0), r"Lion group 0: weight decay 0"),
])
def test_each_warning_names_the_group_and_the_hypothesis(make, match):
    model = mlp()
    opt = make(model.parameters())
    if not isinstance(opt, torch.optim.AdamW) or opt.param_groups[0]["lr"] < 1:
        one_step(opt, model)  # the eps check reads the optimizer state
    with pytest.warns(ConstraintWarning, match=match):
        constraint_report(model, opt)


def test_eps_warning_measures_the_state_not_the_setting():
    model = mlp()
    opt = optim.AdamW(model.parameters(), lr=0.01, betas=(0.9, 0.9), eps=1e-12, weight_decay=1.0)
    one_step(opt, model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # eps > 0 but negligible against sqrt(v): no warning
        constraint_report(model, opt)


def test_increasing_learning_rate_warns_once_with_the_group():
    model = mlp()
    opt = optim.AdamW([{"params": model[0].parameters()},
                       {"params": model[2].parameters(), "lr": 1e-3}],
                      lr=1e-3, betas=(0.9, 0.9), eps=0.0, weight_decay=1.0)
    mon = ConstraintMonitor(model, opt, every=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for t in range(6):
            opt.param_groups[1]["lr"] = 1e-3 * (t + 1)  # a warm-up on group 1 only
            one_step(opt, model)
            mon()
    messages = [str(w.message) for w in caught if issubclass(w.category, ConstraintWarning)]
    assert len(messages) == 1 and messages[0].startswith("AdamW group 1: the learning rate "
                                                         "increased"), messages
    assert caught[0].filename == __file__  # points at the user's line


def test_no_warning_inside_the_theorem_with_the_monitor():
    model = mlp()
    opt = optim.AdamW(model.parameters(), lr=1e-2, betas=(0.95, 0.99), eps=0.0, weight_decay=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)  # decreasing: allowed
    mon = ConstraintMonitor(model, opt, every=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(8):
            one_step(opt, model)
            sched.step()
            mon()
    # a schedule: Lemma 4.3 (constant lr) is no longer used; M / lambda holds for any schedule
    row = mon.report()[0]
    assert "lr changed" in row["note"] and row["rule"] == "sharp M/λ"
    assert row["radius"] == bounds.max_update_size((0.95, 0.99))


# ----------------------------------------------------------------------------- the monitor
def test_monitor_records_every_n_steps_writes_csv_and_plots(tmp_path):
    model = mlp()
    opt = optim.AdamW(model.parameters(), lr=0.05, betas=(0.99, 0.99), eps=0.0, weight_decay=2.0)
    path = tmp_path / "sub" / "constraint.csv"
    mon = ConstraintMonitor(model, opt, every=3, path=path)
    train(model, opt, steps=10, mon=mon)
    assert [r["step"] for r in mon.history] == [3, 6, 9]
    with path.open() as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == monitor.HISTORY_COLUMNS and len(rows) == 4
    last = dict(zip(rows[0], rows[-1]))
    assert float(last["max_ratio"]) == pytest.approx(mon.history[-1]["max_ratio"], rel=1e-12)
    assert last["worst_tensor"] == mon.history[-1]["worst_tensor"]
    # two scalars per tensor, no tensor of the model's size
    (tracker,) = mon._ranges.values()
    assert all(v.ndim == 0 for v in tracker.v_max + tracker.v_min)
    held = [v for v in vars(mon).values() if isinstance(v, torch.Tensor)]
    assert not held
    fig = mon.plot()
    assert isinstance(fig, matplotlib.figure.Figure) and fig.axes[0].lines


# ----------------------------------------------------------------------------- bad inputs
def test_bad_inputs_raise_one_clear_error():
    model = mlp()
    opt = optim.AdamW(model.parameters(), lr=0.01, weight_decay=1.0)
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        ConstraintMonitor(model, opt, every=0)
    with pytest.raises(ValueError, match="boundary_tolerance must lie in"):
        constraint_report(model, opt, boundary_tolerance=2.0)
    with pytest.raises(ValueError, match="none of the given parameters is in the optimizer"):
        constraint_report([("extra", torch.nn.Parameter(torch.ones(2)))], opt)  # another model
    with pytest.raises(TypeError, match="unsupported optimizer SGD"):
        constraint_report(model, torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(TypeError, match="expected a torch.optim.Optimizer"):
        constraint_report(model, "adamw")
    with pytest.raises(TypeError, match="expected an nn.Module"):
        constraint_report(3, opt)
    with pytest.raises(TypeError, match="item 0 is ndarray"):
        constraint_report([np.ones(3)], opt)
    with pytest.raises(ValueError, match="log_v_range must be finite and >= 0"):
        constraint_report(model, opt, log_v_range=-1.0)
    with pytest.raises(ValueError, match="log_v_range must be finite and >= 0"):
        monitor.lemma_4_3_radius((0.9, 0.99), 1e-2, 1.0, math.nan)
    with pytest.raises(ValueError, match="beta1 <= beta2"):
        monitor.lemma_4_3_radius((0.99, 0.9), 1e-2, 1.0, 1.0)


def test_table_forms():
    model = mlp()
    opt = optim.Lion(model.parameters(), lr=0.01, weight_decay=1.0)
    report = constraint_report(model, opt)
    text, md = report.table(), report.table(markdown=True)
    assert text.splitlines()[0].split() == list(monitor.REPORT_COLUMNS)
    assert len(text.splitlines()) == 1 + len(report) and "—" in text  # no gradient: kkt —
    assert [c.strip() for c in md.splitlines()[0].strip("|").split("|")] == list(monitor.REPORT_COLUMNS)
    assert re.fullmatch(r"(\|-+)+\|", md.splitlines()[1]) and md.count("\n") == len(report) + 1
    assert str(report) == text


# ----------------------------------------------------------------------------- the PTB trainer
@pytest.mark.usefixtures("ptb_dir")  # skips without $PTB_DIR (fixtures: tests/conftest.py)
@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_ptb_trainer_records_what_the_monitor_reports(tiny_config, tmp_path, optimizer):
    from implicit_bias.ptb import results
    from implicit_bias.ptb.trainer import Trainer

    config = tiny_config(steps=4, optimizer=optimizer)
    trainer = Trainer(config, show_progress=False)
    info = trainer.run(tmp_path)
    linf = results.read_metrics(tmp_path / "tensor_linf.csv")
    # the trainer's MuonAdamW (an object with an ``optimizers`` list) is accepted as it is
    rows = by_name(constraint_report(trainer.model, trainer.optimizer))
    assert any(r["norm"] == "spectral" for r in rows.values()) == (optimizer == "muon")
    for name, p in zip(trainer.names, trainer.params):
        row = rows[name]
        if row["norm"] == "linf":
            assert row["value"] == pytest.approx(float(linf[name][-1]), rel=1e-6)
        else:  # Muon's hidden matrices
            spectral = results.read_metrics(tmp_path / "tensor_spectral.csv")
            assert optimizer == "muon" and row["radius"] == muon.muon_radius(tuple(p.shape), 1.0)
            assert row["value"] == pytest.approx(float(spectral[name][-1]), rel=1e-6)
    assert isinstance(trainer.recorder.v_range, monitor.SecondMomentRange)
    assert info["summary"]["log_v_ratio"] == trainer.recorder.v_range.log_range() > 0


def test_bias_corrected_equal_betas_keep_every_update_within_one():
    """The radius 1/λ of torch.optim.AdamW with β1 = β2 rests on |m̂_t| ≤ √v̂_t at every t."""
    torch.manual_seed(0)
    x = torch.zeros(500, requires_grad=True)
    opt = torch.optim.AdamW([x], lr=1.0, betas=(0.9, 0.9), eps=0.0, weight_decay=0.0)
    worst = 0.0
    for t in range(300):
        before = x.detach().clone()
        x.grad = torch.randn(500) * torch.exp(3 * torch.randn(1))  # heavy-tailed scale per step
        opt.step()
        worst = max(worst, float((x.detach() - before).abs().max()))
    assert worst <= 1 + 1e-5, worst
    decayed = torch.optim.AdamW([x], lr=1e-2, betas=(0.9, 0.9), weight_decay=0.5)
    row = constraint_report([("x", x)], decayed)[0]
    assert row["radius"] == 2.0 and "bias-corrected" not in row["note"], row
    unequal = torch.optim.AdamW([x], lr=1e-2, betas=(0.9, 0.99), weight_decay=0.5)
    row = constraint_report([("x", x)], unequal, log_v_range=1.0)[0]
    assert "bias-corrected form" in row["note"], row
