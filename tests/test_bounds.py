"""Tests of :mod:`implicit_bias.bounds`: Lemma 4.2 and Corollary 4.2' on hypothesis-generated
gradient sequences, their equality cases, and Lemma 4.3 on random AdamW runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from implicit_bias import bounds
from implicit_bias.adamw import run_adamw

# Relative slack allowed for a bound: a few ulps of the O(T) sums that both sides accumulate.
TOL_REL = 1e-12


# ----------------------------------------------------------------------------- strategies
@st.composite
def betas_pairs(draw):
    """(beta1, beta2) with beta1 <= beta2 < 1, including beta1 = 0, beta1 = beta2 and beta2 ~ 1."""
    beta2 = draw(st.sampled_from([0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1 - 1e-5])
                 | st.floats(0.0, 0.9999))
    beta1 = draw(st.sampled_from([0.0, beta2, 0.9 * beta2]) | st.floats(0.0, beta2))
    return float(beta1), float(beta2)


@st.composite
def gradient_sequences(draw, max_steps=120):
    """Gaussian noise, rare spikes after quiet stretches, zeros with bursts, geometric growth or
    decay, alternating signs; overall scale 1e-6 .. 1e6."""
    steps = draw(st.integers(1, max_steps))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    kind = draw(st.sampled_from(["gauss", "spikes", "zeros", "geometric", "alternating"]))
    t = np.arange(steps)
    if kind == "gauss":
        g = rng.normal(size=steps)
    elif kind == "spikes":
        g = 1e-3 * rng.normal(size=steps)
        hits = rng.random(steps) < 0.05
        g[hits] = rng.choice([-1.0, 1.0], hits.sum()) * 10.0 ** rng.uniform(0, 8, hits.sum())
    elif kind == "zeros":
        g = np.zeros(steps)
        g[0] = 1.0  # v_1 > 0
        for start in rng.integers(0, steps, size=3):
            g[start:start + rng.integers(1, 20)] = 10.0 ** rng.uniform(-4, 4)
    elif kind == "geometric":
        g = np.exp(np.clip(rng.uniform(-0.3, 0.3) * (t - steps / 2), -300, 300))
    else:
        g = (-1.0) ** t * np.exp(0.1 * rng.normal(size=steps))
    scale = 10.0 ** draw(st.floats(-6, 6))
    return g * scale


@st.composite
def weight_sequences(draw, steps):
    """Signed random, non-negative random, non-increasing, constant, geometric-increasing
    (the Lemma 4.3 weights eta q^(t-s)) and sparse coefficients."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    kind = draw(st.sampled_from(["signed", "positive", "nonincreasing", "constant", "geometric",
                                 "sparse"]))
    if kind == "signed":
        a = rng.normal(size=steps)
    elif kind == "positive":
        a = rng.random(steps)
    elif kind == "nonincreasing":
        a = np.sort(rng.random(steps))[::-1]
    elif kind == "constant":
        a = np.ones(steps)
    elif kind == "geometric":
        a = (1 - 10.0 ** rng.uniform(-3, -0.5)) ** np.arange(steps)[::-1]
    else:
        a = rng.normal(size=steps) * (rng.random(steps) < 0.2)
    return a * 10.0 ** draw(st.floats(-3, 3))


@st.composite
def lemma_instances(draw):
    betas = draw(betas_pairs())
    g = draw(gradient_sequences())
    eps = draw(st.sampled_from([0.0, 1e-8, 1e-3, 1.0])) * float(np.max(np.abs(g)))
    warm = draw(st.booleans())
    v0 = float(np.max(g ** 2)) * 10.0 ** draw(st.floats(-6, 1)) if warm else 0.0
    m0 = draw(st.floats(-1.0, 1.0)) * np.sqrt(v0)
    try:
        seq = bounds.adam_ratio_sequence(g, betas, eps=eps, m0=m0, v0=v0)
    except ValueError:
        # some v_t = 0, outside the lemma's hypotheses: beta2 = 0 (or so small that beta2 * v
        # underflows) with eps = 0 and a zero gradient
        assume(False)
    a = draw(weight_sequences(g.shape[0]))
    return seq, a


def rel_violation(lhs, rhs):
    return float(np.max((lhs - rhs) / np.maximum(np.abs(rhs), 1e-300)))


# ----------------------------------------------------------------------------- Lemma 4.2
@settings(max_examples=150, deadline=None)
@given(lemma_instances())
def test_lemma_4_2_pointwise_a(instance):
    seq, _ = instance
    rhs = bounds.pointwise_bound(seq)
    assert rel_violation(seq.delta ** 2, rhs) <= TOL_REL
    # corollary of (a): |Delta_t| <= sqrt(1 + kappa) always
    assert np.max(np.abs(seq.delta)) <= np.sqrt(1 + bounds.kappa(seq.betas)) * (1 + TOL_REL)


@settings(max_examples=150, deadline=None)
@given(lemma_instances())
def test_lemma_4_2_averaged_forms_hold_and_are_ordered(instance):
    """(b) <= (4) <= 4.2'(i) and |sum a_t Delta_t| <= (b)."""
    seq, a = instance
    lhs = bounds.weighted_sum(seq, a)
    exact, log_form, log_range = (bounds.averaged_bound(seq, a), bounds.log_bound(seq, a),
                                  bounds.log_range_bound(seq, a))
    assert rel_violation(lhs, exact) <= TOL_REL
    # 1 - r <= ln(1/r) term by term; both sides carry kappa times nearly equal sums, so their
    # round-off is amplified by kappa (up to 1e5 for beta2 = 0.99999): a 7e-11 miss was seen there
    assert rel_violation(exact, log_form) <= TOL_REL * (1 + bounds.kappa(seq.betas))
    assert rel_violation(log_form, log_range) <= TOL_REL


@settings(max_examples=100, deadline=None)
@given(lemma_instances())
def test_corollary_ii_for_nonincreasing_weights(instance):
    seq, a = instance
    if seq.betas[1] == 0.0:
        return
    a = np.sort(np.abs(a))[::-1]
    assert rel_violation(bounds.weighted_sum(seq, a),
                         bounds.nonincreasing_weights_bound(seq, a)) <= TOL_REL
    assert rel_violation(bounds.log_bound(seq, a),
                         bounds.nonincreasing_weights_bound(seq, a)) <= TOL_REL


@settings(max_examples=60, deadline=None)
@given(st.floats(0.0, 0.999), st.integers(1, 200), st.floats(-6, 6),
       st.sampled_from([0.0, 1e-8, 1e-2]))
def test_equal_betas_give_updates_at_most_one(beta, steps, log_scale, eps):
    rng = np.random.default_rng(steps)
    g = rng.standard_cauchy(steps) * 10.0 ** log_scale
    seq = bounds.adam_ratio_sequence(g, (beta, beta), eps=eps * float(np.max(np.abs(g))))
    assert np.max(np.abs(seq.delta)) <= 1.0 + 1e-15


@settings(max_examples=40, deadline=None)
@given(betas_pairs(), st.floats(1e-4, 0.05), st.integers(5, 400))
def test_corollary_iii_for_growing_gradients(betas, rate, steps):
    """Constant weights and non-decreasing v (growing gradients): (4) <= sqrt form <= linear form."""
    g = np.exp(rate * np.arange(steps))
    seq = bounds.adam_ratio_sequence(g, betas, m0=1.0 / np.exp(rate), v0=np.exp(-2 * rate))
    total = float(np.sum(seq.delta))
    root, linear = (bounds.constant_weights_bound(seq), bounds.constant_weights_bound(seq, True))
    assert total <= bounds.log_bound(seq) * (1 + TOL_REL)
    assert bounds.log_bound(seq) <= root * (1 + TOL_REL) <= linear * (1 + 2 * TOL_REL)


def test_log_coefficients_sum_to_zero():
    rng = np.random.default_rng(0)
    for beta1 in (0.0, 0.5, 0.99):
        c = bounds.log_coefficients(rng.normal(size=300), beta1)
        assert abs(c.sum()) <= 1e-12 * np.abs(c).sum()


def test_log_coefficients_reproduce_the_double_sum():
    rng = np.random.default_rng(1)
    beta1, steps = 0.7, 40
    a, log_v = np.abs(rng.normal(size=steps)), rng.normal(size=steps)
    direct = sum(a[t] * sum(beta1 ** (k - 1) * (log_v[t] - log_v[t - k]) for k in range(1, t + 1))
                 for t in range(steps))
    np.testing.assert_allclose(np.sum(bounds.log_coefficients(a, beta1) * log_v), direct, rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------- equality cases
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.95, 0.999])
def test_equality_equal_betas_constant_gradient_matched_state(beta):
    g = 3.0
    seq = bounds.adam_ratio_sequence(np.full(50, g), (beta, beta), m0=g, v0=g * g)
    np.testing.assert_allclose(bounds.weighted_sum(seq), 50.0, rtol=1e-14, atol=0)
    np.testing.assert_allclose(bounds.log_bound(seq), 50.0, rtol=1e-14, atol=0)


@pytest.mark.parametrize("beta2", [0.5, 0.9, 0.999])
def test_equality_first_step_of_signless_adam(beta2):
    """beta1 = 0, T = 1, v0 = 0: Delta_1 = 1/sqrt(1-beta2) = sqrt(1+kappa), which is (a) and (4)."""
    seq = bounds.adam_ratio_sequence([2.0], (0.0, beta2))
    np.testing.assert_allclose(seq.delta[0], np.sqrt(1 + bounds.kappa((0.0, beta2))), rtol=1e-14, atol=0)
    np.testing.assert_allclose(bounds.pointwise_bound(seq)[0], seq.delta[0] ** 2, rtol=1e-14, atol=0)
    np.testing.assert_allclose(bounds.log_bound(seq), seq.delta[0], rtol=1e-14, atol=0)


def test_log_term_is_asymptotically_sharp_for_slowly_growing_gradients():
    """g_t = e^(delta t), a_t = 1: the excess sum Delta - T approaches the bound's excess."""
    betas, delta = (0.5, 0.9), 1e-3
    steps = int(100 / delta)
    g = np.exp(delta * np.arange(1, steps + 1) - 100)
    seq = bounds.adam_ratio_sequence(g, betas, m0=np.exp(-100), v0=np.exp(-200))
    ratio = (bounds.weighted_sum(seq) - steps) / (bounds.log_bound(seq) - steps)
    assert 0.98 < ratio <= 1.0


def test_stationary_update_size_is_the_limit_of_geometric_updates():
    betas, r = (0.9, 0.999), np.exp(5e-3)
    seq = bounds.adam_ratio_sequence(r ** np.arange(4000) * 1e-8, betas)
    np.testing.assert_allclose(seq.delta[-1], bounds.stationary_update_size(r, betas), rtol=1e-10, atol=0)


def test_eps_bounds_are_log_versus_linear():
    grow = [bounds.eps_averaged_bound(1000, (0.9, 0.999), 1.0, eps) for eps in (1e-4, 1e-8)]
    assert grow[1] ** 2 - 1 < 2.1 * (grow[0] ** 2 - 1)  # excess ~ log(1/eps): doubles, not 1e4x
    assert bounds.naive_bound(1.0, 1e-8) == 1e4 * bounds.naive_bound(1.0, 1e-4)


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="beta1"):
        bounds.kappa((0.99, 0.9))
    with pytest.raises(ValueError, match="v_t > 0"):
        bounds.adam_ratio_sequence([0.0, 1.0], (0.9, 0.99))
    with pytest.raises(ValueError, match="recursion"):
        bounds.ratio_sequence([1.0, 1.0], [0.5, 0.1], (0.5, 0.5))
    seq = bounds.adam_ratio_sequence([1.0, 1.0], (0.5, 0.9))
    with pytest.raises(ValueError, match="non-increasing"):
        bounds.nonincreasing_weights_bound(seq, [1.0, 2.0])
    with pytest.raises(ValueError, match="weight_decay"):
        bounds.iterate_bound(np.ones((3, 1)), (0.9, 0.99), lr=1.0, weight_decay=2.0)


def test_user_supplied_v_with_slack():
    rng = np.random.default_rng(3)
    g = rng.normal(size=200)
    beta1, beta2 = 0.8, 0.95
    v, prev = np.empty(200), 0.0
    for t in range(200):  # a valid v with extra non-negative increments (e.g. AMSGrad-like)
        prev = beta2 * prev + (1 - beta2) * g[t] ** 2 + rng.exponential() * (rng.random() < 0.3)
        v[t] = prev
    seq = bounds.ratio_sequence(g, v, (beta1, beta2))
    assert rel_violation(seq.delta ** 2, bounds.pointwise_bound(seq)) <= TOL_REL
    assert rel_violation(bounds.weighted_sum(seq), bounds.log_bound(seq)) <= TOL_REL


# ----------------------------------------------------------------------------- Lemma 4.3
@settings(max_examples=15, deadline=None)
@given(betas_pairs(), st.sampled_from([(1.0, 1e-3), (2.0, 1e-3), (5.0, 1e-2), (1.0, 0.3)]),
       st.sampled_from([0.0, 1e-8, 1e-3]), st.integers(0, 2 ** 32 - 1),
       st.sampled_from(["cauchy", "growth", "spike", "late_start"]))
def test_lemma_4_3_on_random_adamw_runs(betas, decay_lr, eps, seed, kind):
    weight_decay, lr = decay_lr
    rng = np.random.default_rng(seed)
    steps, dim = 400, 4
    if kind == "cauchy":
        grads = rng.standard_cauchy((steps, dim)) * 10.0 ** rng.uniform(-3, 3, dim)
    elif kind == "growth":
        grads = np.exp(rng.uniform(1e-4, 1e-2, dim) * np.arange(steps)[:, None])
    elif kind == "spike":
        grads = np.ones((steps, dim))
        grads[rng.integers(0, steps, dim), np.arange(dim)] = 1e4
    else:  # exact zeros first: with eps = 0 the clock of the bound restarts at the first gradient
        grads = rng.normal(size=(steps, dim))
        grads[: rng.integers(1, 100)] = 0.0
    x0 = rng.uniform(-3, 3, dim) / weight_decay
    run = run_adamw(bounds.replay_gradients(grads), x0, np.full(steps, lr), betas=betas, eps=eps,
                    weight_decay=weight_decay)
    q = 1 - lr * weight_decay
    lhs = np.abs(run.xs[1:] - q ** np.arange(1, steps + 1)[:, None] * x0)
    rhs = bounds.iterate_bound(bounds.folded_moment(run.vs, eps), betas, lr, weight_decay)
    # q^t x0 is computed by repeated multiplication on one side and by q**t on the other: allow
    # that round-off (absolute, relative to |x0|) besides the relative slack of the bound
    assert np.all(lhs <= rhs * (1 + 1e-10) + 1e-12 * np.abs(x0))


@pytest.mark.parametrize("beta", [0.9, 0.99, 0.999])
def test_lemma_4_3_equal_betas_keep_iterates_in_the_box(beta):
    rng = np.random.default_rng(0)
    weight_decay, lr = 2.0, 1e-3
    grads = rng.standard_cauchy((3000, 8)) * 10.0 ** rng.uniform(-4, 4, 8)
    x0 = rng.uniform(-1, 1, 8) / weight_decay
    run = run_adamw(bounds.replay_gradients(grads), x0, np.full(3000, lr), betas=(beta, beta),
                    weight_decay=weight_decay)
    assert weight_decay * np.max(np.abs(run.xs)) <= 1.0


def test_growth_constant_and_asymptotic_form():
    np.testing.assert_allclose(bounds.growth_constant((0.9, 0.95), 1e-3, 1.0), 1.0 * 1e-3 / (1 - 0.9 - 1e-3), rtol=1e-12, atol=0)
    assert bounds.growth_constant((0.99, 0.99), 1e-3, 2.0) == 0.0
    np.testing.assert_allclose(bounds.asymptotic_iterate_bound((0.99, 0.99), 1e-3, 2.0, 10.0), 0.5, rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------- largest single update
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.9), (0.9, 0.9), (0.3, 0.31)])
@pytest.mark.parametrize("steps", [1, 2, 7, 40])
def test_extremal_stream_attains_max_update(betas, steps):
    seq = bounds.adam_ratio_sequence(bounds.extremal_gradients(betas, steps), betas)
    assert seq.delta[-1] == pytest.approx(bounds.max_update_size(betas, steps), rel=1e-12)


def test_max_update_closed_form_and_limits():
    assert bounds.max_update_size((0.9, 0.999)) == pytest.approx(7.2702918, rel=1e-7)
    assert bounds.max_update_size((0.9, 0.999), 1) == pytest.approx(0.1 / math.sqrt(1e-3))
    assert bounds.max_update_size((0.0, 0.999)) == pytest.approx(1 / math.sqrt(1e-3))
    assert bounds.max_update_size((0.7, 0.7)) == pytest.approx(1.0)
    assert bounds.max_update_size((0.9, 0.999), 2000) == pytest.approx(bounds.max_update_size((0.9, 0.999)))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_random_streams_never_exceed_max_update(seed):
    rng = np.random.default_rng(seed)
    beta2 = rng.uniform(0.05, 0.999)
    betas = (rng.uniform(0, beta2), beta2)
    steps = int(rng.integers(1, 60))
    g = bounds.extremal_gradients(betas, steps) * np.exp(0.3 * rng.normal(size=steps)) + 0.1 * rng.normal(size=steps)
    seq = bounds.adam_ratio_sequence(g, betas)
    assert np.all(np.abs(seq.delta) <= bounds.max_update_size(betas) * (1 + 1e-12))
    assert abs(seq.delta[-1]) <= bounds.max_update_size(betas, steps) * (1 + 1e-12)
    assert bounds.max_update_size(betas) <= math.sqrt((1 - betas[0]) / (1 - betas[1])) * (1 + 1e-12)


# ----------------------------------------------------------------------------- beta1^2 < beta2
@pytest.mark.parametrize("betas", [(0.9, 0.85), (0.9, 0.95), (0.95, 0.92), (0.5, 0.3)])
def test_sharp_update_bound_holds_and_is_attained_beyond_beta1_le_beta2(betas):
    """M_T for any betas with beta1^2 < beta2 (including beta1 > beta2): the geometric stream
    attains it at step T, and random streams stay below M."""
    from implicit_bias.adamw import adam_moments

    for steps in (1, 5, 40):
        m, v, _ = adam_moments(bounds.extremal_gradients(betas, steps), betas)
        assert abs(m[-1]) / math.sqrt(v[-1]) == pytest.approx(bounds.max_update_size(betas, steps),
                                                                rel=1e-12)
    rng = np.random.default_rng(3)
    g = rng.normal(size=(400, 50)) * np.exp(rng.normal(size=(400, 1)))
    m, v, _ = adam_moments(g, betas)
    assert np.max(np.abs(m) / np.sqrt(v)) <= bounds.max_update_size(betas) * (1 + 1e-12)
    assert bounds.max_update_size(betas, 10_000) == pytest.approx(bounds.max_update_size(betas))


def test_sharp_update_bound_values_and_the_unbounded_side():
    assert bounds.max_update_size((0.9, 0.85)) == pytest.approx(1.1902381, rel=1e-7)
    assert bounds.max_update_size((0.9, 0.95)) == pytest.approx(1.1649647, rel=1e-7)
    assert bounds.max_update_size((0.9, 0.81)) == math.inf  # beta1^2 = beta2
    assert bounds.max_update_size((0.9, 0.5)) == math.inf
    assert bounds.max_update_size((0.9, 0.81), 100) == pytest.approx(math.sqrt(0.01 / 0.19 * 100))
    with pytest.raises(ValueError, match="beta2 > 0"):
        bounds.max_update_size((0.5, 0.0))


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.9, 0.95), (0.5, 0.6), (0.9, 0.85)])
def test_bias_corrected_update_bound_is_attained_and_at_most_m(betas):
    from implicit_bias.adamw import adam_moments

    for steps in (1, 3, 30):
        m, v, _ = adam_moments(bounds.extremal_gradients(betas, steps), betas)
        theta = float(bounds.bias_correction_factor(betas, steps))
        corrected = (m[-1] / (1 - betas[0] ** steps)) / math.sqrt(v[-1] / (1 - betas[1] ** steps))
        assert corrected == pytest.approx(theta * bounds.max_update_size(betas, steps), rel=1e-12)
        assert corrected <= bounds.bias_corrected_update_size(betas, steps) * (1 + 1e-12)
    assert bounds.bias_corrected_update_size(betas) <= bounds.max_update_size(betas) * (1 + 1e-12)
    assert bounds.bias_corrected_update_size(betas, 1) == pytest.approx(1.0)  # theta_1 M_1 = 1


def test_bias_correction_factor_and_peak():
    assert float(bounds.bias_correction_factor((0.9, 0.999), 1)) == pytest.approx(math.sqrt(1e-3) / 0.1)
    assert bounds.bias_correction_peak((0.9, 0.999)) == 1.0  # theta_t < 1 for all t, -> 1
    assert bounds.bias_correction_peak((0.9, 0.95)) == pytest.approx(math.sqrt(0.05) / 0.1)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        bounds.bias_correction_factor((0.9, 0.99), 0)


# ----------------------------------------------------------------------------- Lemma 3.1
@pytest.mark.parametrize("p", [1.0, 2.0, math.inf])
def test_ball_envelope_is_attained_by_outward_updates_and_holds_for_random_ones(p):
    rng = np.random.default_rng(31)
    lam, c = 2.0, 0.7
    lrs = rng.uniform(0.0, 1.0 / lam, size=60)
    x0 = rng.standard_normal(5)
    x0 *= 4.0 * c / lam / np.linalg.norm(x0, p)             # ||x_0|| = 4 c / lambda: outside
    envelope = bounds.ball_envelope(lrs, lam, np.linalg.norm(x0, p), update_bound=c)
    outward, random = [x0], [x0]
    for lr in lrs:
        x = outward[-1]
        outward.append((1 - lam * lr) * x + lr * c * x / np.linalg.norm(x, p))  # ||Delta|| = c
        d = rng.standard_normal(5)
        random.append((1 - lam * lr) * random[-1] - lr * c * rng.random() * d / np.linalg.norm(d, p))
    outward_norms = np.array([np.linalg.norm(x, p) for x in outward])
    random_norms = np.array([np.linalg.norm(x, p) for x in random])
    assert envelope.shape == (61,)
    # the outward updates grow the norm by exactly eta_t c: the recursion is the envelope itself
    np.testing.assert_allclose(outward_norms, envelope, rtol=1e-12)
    assert np.all(random_norms <= envelope * (1 + 1e-12)), np.max(random_norms / envelope)


def test_ball_envelope_constant_lr_matches_the_schedule_form():
    schedule = bounds.ball_envelope(np.full(40, 0.01), 3.0, 5.0)
    constant = bounds.ball_envelope(0.01, 3.0, 5.0, steps=np.arange(41))
    np.testing.assert_allclose(constant, schedule, rtol=1e-12)
    np.testing.assert_allclose(bounds.ball_envelope(0.01, 3.0, 0.1, steps=np.arange(41)), 1 / 3.0)


@pytest.mark.parametrize("args, kwargs, match", [
    ((0.1, 0.0, 1.0), {"steps": 3}, "weight_decay"),
    ((0.6, 2.0, 1.0), {"steps": 3}, "weight_decay"),           # lambda * eta = 1.2 > 1
    (([0.1, 0.6], 2.0, 1.0), {}, "weight_decay"),
    (([0.1, -0.1], 2.0, 1.0), {}, "lr"),
    ((0.1, 2.0, -1.0), {"steps": 3}, "x0_norm"),
    ((0.1, 2.0, 1.0), {}, "steps is required"),
    (([0.1], 2.0, 1.0), {"steps": 3}, "steps must be None"),
    ((0.1, 2.0, 1.0), {"steps": 3, "update_bound": -1.0}, "update_bound"),
])
def test_ball_envelope_rejects_bad_arguments(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        bounds.ball_envelope(*args, **kwargs)
