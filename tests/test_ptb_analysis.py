"""Lemma 4.3 prediction used by the PTB chapter agrees with implicit_bias.bounds; FLOP count."""

import math
from dataclasses import replace

import numpy as np
import pytest

from implicit_bias import bounds
from implicit_bias.ptb.configs import TrainConfig, get_config, sweep_configs
from implicit_bias.ptb.model import training_flops
from implicit_bias.ptb.results import RunSummary


@pytest.mark.parametrize("betas,lr,wd", [((0.9, 0.95), 1e-2, 1.0), ((0.9, 0.999), 1e-2, 2.0),
                                         ((0.99, 0.99), 1e-3, 2.0), ((0.5, 0.9), 0.05, 1.0)])
def test_bound_matches_the_package_lemma_4_3(betas, lr, wd):
    rng = np.random.default_rng(0)
    v_tilde = np.exp(rng.normal(size=(300, 1)) * 2.0)  # one coordinate, v~ > 0 from the start
    package = bounds.iterate_bound(v_tilde, betas, lr, wd)[-1, 0]
    log_ratio = float(np.log(v_tilde.max() / v_tilde.min()))
    ours = float(bounds.iterate_bound_from_log_range(betas, lr, wd, 300, log_ratio))
    np.testing.assert_allclose(ours, package, rtol=1e-9, atol=0)


def test_equal_betas_bound_is_the_decay_envelope():
    q = 1 - 2.0 * 1e-2
    np.testing.assert_allclose(float(bounds.iterate_bound_from_log_range((0.9, 0.9), 1e-2, 2.0, 50, 7.0, 1.0)), q ** 50 + (1 - q ** 50) / 2.0, rtol=1e-12, atol=0)


def test_paper_scale_is_about_14_tflop_per_step():
    flop = training_flops(200, 200, 2, 10_000, 35, 26_559 * 35)
    assert 13.5e12 < flop < 14.5e12


def test_cpu_sweep_covers_every_adamw_setting():
    labels = {c.label() for c in sweep_configs("cpu")}
    assert len(labels) == 56  # AdamW and every baseline at both seeds
    assert {"adamw_b0.9-0.95_wd2_s0", "adamw_b0.9-0.95_wd2_s1", "adam-l2_b0.99-0.99_wd1_sum_s0",
            "adam_b0.9-0.999_s0", "adam-l2_b0.999-0.999_wd2_mean_s0", "adam_b0.9-0.95_s0"} <= labels
    assert {"adam_b0.9-0.999_s1", "adam-l2_b0.9-0.95_wd2_sum_s1"} <= labels
    wide = sweep_configs("cpu-wide")
    assert {c.optimizer for c in wide} == {"adamw"} and len(wide) == 8
    assert {(c.d_model, c.d_ff, c.vocab) for c in wide} == {(200, 200, "full")}
    assert get_config("cpu").lr * 2.0 * get_config("cpu").steps == 8.0  # 8 time constants at λ=2


def _summary(**values) -> RunSummary:
    """A :class:`RunSummary` with placeholder values, ``values`` replaced."""
    base = dict(steps_done=400, initial_linf=1.0, final_linf=0.9, max_linf=1.0,
                max_linf_second_half=0.9, final_linf_tensor="decoder.weight", final_l2=10.0,
                final_loss=3.0, final_val_ppl=20.0, log_v_ratio=0.0, n_params=100,
                vocab_size=10, train_chunks=4, train_tokens=140)
    return RunSummary(**{**base, **values})


def _fake_run(seed, lam, betas=(0.99, 0.99), family="adamw", final=0.9):
    from types import SimpleNamespace
    config = TrainConfig(optimizer=family, beta1=betas[0], beta2=betas[1], weight_decay=lam,
                         seed=seed)
    return SimpleNamespace(family=family, config=config,
                           summary=_summary(final_linf=final + seed, final_loss=3.0 + seed))


def test_pick_chooses_the_seed_and_the_seeds_table_lists_both():
    from implicit_bias.ptb.analysis import pick, seeds_table

    runs = [_fake_run(1, 1.0), _fake_run(0, 1.0), _fake_run(0, 2.0, final=0.4)]
    assert pick(runs, "adamw", (0.99, 0.99), 1.0).config.seed == 0
    assert pick(runs, "adamw", (0.99, 0.99), 1.0, seed=1).summary.final_linf == 1.9
    assert pick(runs, "adamw", (0.99, 0.99), 2.0, seed=1) is None
    table = seeds_table(runs).splitlines()
    assert table[0].count("|") == 7 and len(table) == 4      # header, rule, one row per (β, λ)
    assert table[2] == "| (0.99, 0.99) | 1 | 0.900 | 1.900 | 3.000 | 4.000 |"
    assert table[3] == "| (0.99, 0.99) | 2 | 0.800 | — | 3.000 | — |"


def test_log_axes_read_as_plain_numbers():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from implicit_bias.plotting import plain_log_ticks

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0.35, 4.2])
    ax.set_yscale("log")
    plain_log_ticks(ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() + ax.get_yticklabels(minor=True)]
    plt.close(fig)
    assert {"1", "0.4", "2", "3"} <= set(labels), labels      # a short range is labelled inside
    assert not any("times" in label or "×" in label or "^" in label for label in labels), labels


def test_envelope_ratio_is_the_equal_betas_bound_by_hand():
    from types import SimpleNamespace

    from implicit_bias.ptb.analysis import envelope_ratio

    steps = np.arange(5.0)
    linf = np.array([1.0, 0.995, 0.98, 0.99, 0.97])
    run = SimpleNamespace(label="r", config=TrainConfig(optimizer="adamw", beta1=0.9, beta2=0.9,
                                                        lr=0.01, weight_decay=2.0,
                                                        bias_correction=False),
                          metrics=dict(step=steps, linf=linf))
    q = 1 - 0.02
    by_hand = np.max(linf[1:] / (q ** steps[1:] * 1.0 + (1 - q ** steps[1:]) / 2.0))
    assert envelope_ratio(run) == pytest.approx(by_hand, rel=1e-12)
    run.config = replace(run.config, beta2=0.99)
    with pytest.raises(ValueError, match="beta1 = beta2"):
        envelope_ratio(run)


def _trajectory_run(**config):
    from types import SimpleNamespace

    base = dict(optimizer="adamw", beta1=0.9, beta2=0.95, lr=0.01, weight_decay=2.0,
                bias_correction=False, eps=0.0)
    steps = np.arange(0.0, 401.0, 50.0)
    return SimpleNamespace(label="r", config=TrainConfig(**{**base, **config}),
                           summary=_summary(log_v_ratio=12.0),
                           metrics=dict(step=steps, linf=np.linspace(1.0, 0.6, steps.size)))


def test_sharp_path_is_the_sharp_radius_by_hand():
    from implicit_bias.ptb.analysis import sharp_path

    run = _trajectory_run()
    m = math.sqrt(0.1 ** 2 * 0.95 / (0.05 * (0.95 - 0.81)))  # M, typed independently
    qt = 0.98 ** run.metrics["step"]
    np.testing.assert_allclose(sharp_path(run), qt * 1.0 + (1 - qt) * m / 2.0, rtol=1e-12)
    run.config = replace(run.config, bias_correction=True)  # sup over t <= 400 of theta_t M_t, never above M
    corrected = sharp_path(run)
    assert np.all(corrected <= sharp_path(_trajectory_run()) + 1e-12) and corrected[0] == 1.0
    assert sharp_path(_trajectory_run(beta1=0.99, beta2=0.99, bias_correction=True))[-1] == \
        pytest.approx(0.98 ** 400 + (1 - 0.98 ** 400) / 2.0, rel=1e-12)  # beta1 = beta2: U = 1
    with pytest.raises(ValueError, match="beta1\\^2 >= beta2"):
        sharp_path(_trajectory_run(beta1=0.9, beta2=0.81))
    with pytest.raises(ValueError, match="eps = 0"):
        sharp_path(_trajectory_run(eps=1e-8))


def test_lemma_4_3_path_ends_at_the_runs_prediction():
    from implicit_bias.ptb.analysis import lemma_4_3_path

    run = _trajectory_run()
    path = lemma_4_3_path(run)
    assert path[-1] == pytest.approx(
        float(bounds.iterate_bound_from_log_range((0.9, 0.95), 0.01, 2.0, 400, 12.0, 1.0)), rel=1e-12)
    assert path[0] == 1.0 and np.all(np.isfinite(path))
    with pytest.raises(ValueError, match="without bias correction"):
        lemma_4_3_path(_trajectory_run(bias_correction=True))


def test_protocol_table_puts_the_two_protocols_side_by_side():
    from implicit_bias.ptb.analysis import protocol_table

    plain = [_fake_run(0, 1.0), _fake_run(1, 1.0)]
    for r in plain:
        r.summary = replace(r.summary, max_linf_second_half=1.0)
    corrected = [_fake_run(0, 1.0, final=0.5)]
    corrected[0].summary = replace(corrected[0].summary, max_linf_second_half=0.7)
    table = protocol_table(plain, corrected).splitlines()
    assert len(table) == 2 + 8  # header, rule, every beta x lambda
    assert "| (0.99, 0.99) | 1 | 0.900, 1.900 | 0.500, — | 1.000, 1.000 | 0.700, — | 3.000, 4.000 | 3.000, — |" in table
