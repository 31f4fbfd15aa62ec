"""Tests of implicit_bias.norms: dual norms, steepest directions (Lemma 2.2) and the LMO.

Book: ch-steepest (Lemmas 2.1, 2.2).  The property tests draw gradients with zeros and ties,
because those are where a steepest direction stops being unique.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from implicit_bias.norms import LpNorm, get_norm

REL_TOL = 1e-12  # a few ulps of the sums in a norm of at most 8 terms, relative to the norm
NORM_EXPONENTS = [1.0, 1.5, 2.0, 3.0, math.inf]
SETTINGS = settings(max_examples=60, deadline=None)

exponents = st.one_of(st.sampled_from(NORM_EXPONENTS),
                      st.floats(min_value=1.0, max_value=12.0, allow_nan=False))
# Entries from a small set make ties and zeros common; the magnitude factor spreads the scale.
entries = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 2.0, -2.0]),
                    st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False))
vectors = st.lists(entries, min_size=1, max_size=8).map(lambda v: np.array(v, dtype=float))
scales = st.sampled_from([1e-200, 1e-8, 1.0, 1e8, 1e150])


def random_points_in_ball(rng, norm, dim, count, radius=1.0):
    """Points spread over the ball {||s|| <= radius}, many of them on its boundary."""
    z = rng.standard_normal((count, dim)) * rng.exponential(size=(count, 1))
    z[rng.random((count, dim)) < 0.3] = 0.0
    lengths = np.array([norm.value(row) for row in z])
    lengths[lengths == 0.0] = 1.0
    shrink = np.where(rng.random(count) < 0.5, 1.0, rng.random(count))
    return radius * z / lengths[:, None] * shrink[:, None]


# ----- unit tests -------------------------------------------------------------------------

@pytest.mark.parametrize("name, p, q", [("l1", 1.0, math.inf), ("l2", 2.0, 2.0),
                                        ("linf", math.inf, 1.0), ("inf", math.inf, 1.0),
                                        ("l1.5", 1.5, 3.0), ("l3", 3.0, 1.5), (4, 4.0, 4.0 / 3.0),
                                        (math.inf, math.inf, 1.0), (" L2 ", 2.0, 2.0)])
def test_get_norm_names_and_exponents(name, p, q):
    norm = get_norm(name)
    assert norm.p == p
    assert norm.q == pytest.approx(q)
    assert get_norm(norm) is norm


@pytest.mark.parametrize("bad", ["", "   ", "l0", "l0.5", "l-1", "lp", "l", "nan", "lnan",
                                 "euclid", 0.5, -2, float("nan"), True, None])
def test_get_norm_rejects_invalid_names(bad):
    with pytest.raises(ValueError):
        get_norm(bad)


def test_lp_norm_rejects_p_below_one():
    with pytest.raises(ValueError, match="p"):
        LpNorm(0.99)


def test_known_values():
    x = np.array([3.0, -4.0, 0.0])
    assert get_norm("l1").value(x) == 7.0
    assert get_norm("l2").value(x) == 5.0
    assert get_norm("linf").value(x) == 4.0
    assert get_norm("linf").dual(x) == 7.0
    assert get_norm(3).value(x) == pytest.approx((27 + 64) ** (1 / 3), rel=REL_TOL)


def test_linf_tie_rule_is_sign_with_zero_at_zero_coordinates():
    g = np.array([2.0, -0.5, 0.0, 0.0])
    np.testing.assert_array_equal(get_norm("linf").steepest_direction(g), [1.0, -1.0, 0.0, 0.0])


def test_l1_tie_rule_is_first_largest_coordinate():
    g = np.array([1.0, -3.0, 3.0, -3.0])
    np.testing.assert_array_equal(get_norm("l1").steepest_direction(g), [0.0, -1.0, 0.0, 0.0])


@pytest.mark.parametrize("p", NORM_EXPONENTS)
def test_zero_gradient_gives_zero_direction(p):
    norm = get_norm(p)
    for shape in [(1,), (5,), (2, 3)]:
        direction = norm.steepest_direction(np.zeros(shape))
        assert direction.shape == shape and not np.any(direction)


@pytest.mark.parametrize("p", NORM_EXPONENTS)
def test_matrix_gradient_keeps_its_shape_and_is_treated_as_flat(p):
    norm = get_norm(p)
    g = np.arange(-3.0, 3.0).reshape(2, 3)
    direction = norm.steepest_direction(g)
    assert direction.shape == g.shape
    np.testing.assert_allclose(direction.ravel(), norm.steepest_direction(g.ravel()))


@pytest.mark.parametrize("p", NORM_EXPONENTS)
def test_non_finite_gradient_is_rejected(p):
    with pytest.raises(ValueError, match="finite"):
        get_norm(p).steepest_direction(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="finite"):
        get_norm(p).steepest_direction(np.array([np.inf, 1.0]))


@pytest.mark.parametrize("radius", [-1.0, math.inf, math.nan])
def test_lmo_rejects_invalid_radius(radius):
    with pytest.raises(ValueError, match="radius"):
        get_norm("l2").lmo(np.ones(3), radius)


def test_large_exponent_does_not_overflow():
    norm = get_norm(60.0)
    g = np.array([1e3, -2e3, 5.0])
    direction = norm.steepest_direction(g)
    assert np.all(np.isfinite(direction))
    assert norm.value(direction) == pytest.approx(1.0, rel=1e-10)
    assert g @ direction == pytest.approx(norm.dual(g), rel=1e-10)


# ----- property tests ---------------------------------------------------------------------

@SETTINGS
@given(p=exponents, x=vectors, g=vectors)
def test_holder_inequality(p, x, g):
    """<x, g> <= ||x|| ||g||_*, for every pair (the definition of the dual norm)."""
    norm = get_norm(p)
    n = min(x.size, g.size)
    x, g = x[:n], g[:n]
    assert x @ g <= norm.value(x) * norm.dual(g) * (1 + REL_TOL) + 1e-300


@SETTINGS
@given(p=exponents, g=vectors, scale=scales)
def test_steepest_direction_attains_dual_norm_on_unit_sphere(p, g, scale):
    """Lemma 2.2: <g, Delta> = ||g||_* and ||Delta|| = 1 for g != 0; Delta = 0 for g = 0."""
    norm = get_norm(p)
    g = g * scale
    direction = norm.steepest_direction(g)
    if not np.any(g):
        assert not np.any(direction)
        return
    dual = norm.dual(g)
    assert abs(g @ direction - dual) <= REL_TOL * dual
    assert abs(norm.value(direction) - 1.0) <= REL_TOL


@SETTINGS
@given(p=exponents, g=vectors, seed=st.integers(0, 2**32 - 1))
def test_steepest_direction_is_subgradient_of_dual_norm(p, g, seed):
    """Delta in d||g||_*: ||y||_* >= ||g||_* + <Delta, y - g> for random y (Lemma 2.2)."""
    norm = get_norm(p)
    direction = norm.steepest_direction(g)
    rng = np.random.default_rng(seed)
    ys = rng.standard_normal((40, g.size)) * (1.0 + np.abs(g).max())
    ys[:10] = g + 1e-3 * ys[:10]  # points near g probe the local shape
    for y in ys:
        lower = norm.dual(g) + direction @ (y - g)
        assert lower <= norm.dual(y) + REL_TOL * (norm.dual(y) + norm.dual(g))


@SETTINGS
@given(p=exponents, g=vectors, radius=st.floats(0.01, 100.0), seed=st.integers(0, 2**32 - 1))
def test_lmo_beats_random_feasible_points(p, g, radius, seed):
    """lmo(g, r) minimises <g, s> over ||s|| <= r, with value -r ||g||_*."""
    norm = get_norm(p)
    vertex = norm.lmo(g, radius)
    assert norm.value(vertex) <= radius * (1 + REL_TOL)
    best = g @ vertex
    assert abs(best + radius * norm.dual(g)) <= REL_TOL * radius * (norm.dual(g) + 1e-300)
    points = random_points_in_ball(np.random.default_rng(seed), norm, g.size, 200, radius)
    assert np.all(points @ g >= best - REL_TOL * radius * norm.dual(g))


@SETTINGS
@given(p=exponents, x=vectors)
def test_dual_of_dual_is_the_norm(p, x):
    norm = get_norm(p)
    # p -> p/(p-1) -> p is exact up to an ulp of round-off in the exponent.
    assert norm.dual_norm.dual_norm.p == pytest.approx(norm.p, rel=REL_TOL)
    assert norm.dual_norm.value(x) == pytest.approx(norm.dual(x), rel=REL_TOL)
    assert norm.dual_norm.dual(x) == pytest.approx(norm.value(x), rel=REL_TOL, abs=0.0)


@SETTINGS
@given(p=exponents, x=vectors, g=vectors)
def test_norm_is_positively_homogeneous_and_symmetric(p, x, g):
    norm = get_norm(p)
    assert norm.value(-3.0 * x) == pytest.approx(3.0 * norm.value(x), rel=REL_TOL)
    direction = norm.steepest_direction(g)
    np.testing.assert_allclose(norm.steepest_direction(-g), -direction, rtol=REL_TOL)
    np.testing.assert_allclose(norm.steepest_direction(7.0 * g), direction, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("p", [float(np.nextafter(1.0, 2.0)), 1.000001, 1.01])
def test_exponent_just_above_one_stays_accurate(p):
    """As p -> 1 the dual exponent q explodes; rounding must not be amplified by q - 1
    (regression: p = 1 + 2e-16 once gave <g, Delta> off by 26%)."""
    norm = get_norm(p)
    for g in (np.array([1e-200, 1e-200]), np.array([1.0, 0.9, -1.0]), np.array([3.0, -1.0, 0.0])):
        direction = norm.steepest_direction(g)
        assert abs(g @ direction - norm.dual(g)) <= REL_TOL * norm.dual(g)
        assert abs(norm.value(direction) - 1.0) <= REL_TOL


# ----- matrix norms: spectral, nuclear, Frobenius (book: ch-many-optimizers) ----------------

from implicit_bias.norms import MatrixNorm, polar_factor  # noqa: E402

MATRIX_TOL = 1e-10  # relative: an SVD of an at most 6 x 6 matrix is backward stable to ~1e-15
mat_entries = st.one_of(st.sampled_from([0.0, 1.0, -1.0]),
                        st.floats(min_value=-1e2, max_value=1e2, allow_nan=False,
                                  allow_infinity=False))
matrices = st.tuples(st.integers(1, 6), st.integers(1, 6)).flatmap(
    lambda shape: st.lists(mat_entries, min_size=shape[0] * shape[1],
                           max_size=shape[0] * shape[1]).map(
        lambda v: np.array(v, dtype=float).reshape(shape)))


def low_rank(rng, m, n, r):
    return rng.standard_normal((m, r)) @ rng.standard_normal((r, n))


@pytest.mark.parametrize("name, dual", [("spectral", "nuclear"), ("nuclear", "spectral"),
                                        ("frobenius", "frobenius")])
def test_matrix_norm_names_and_duals(name, dual):
    norm = get_norm(name)
    assert isinstance(norm, MatrixNorm) and norm.name == name
    assert norm.dual_norm.name == dual and get_norm(norm) is norm


@SETTINGS
@given(matrices)
def test_matrix_norms_match_singular_values(g):
    s = np.linalg.svd(g, compute_uv=False)
    scale = max(s[0], 1e-300)
    assert get_norm("spectral").value(g) == pytest.approx(s[0], rel=MATRIX_TOL, abs=1e-12 * scale)
    assert get_norm("nuclear").value(g) == pytest.approx(s.sum(), rel=MATRIX_TOL, abs=1e-12 * scale)
    assert get_norm("frobenius").value(g) == pytest.approx(np.sqrt((s ** 2).sum()), rel=MATRIX_TOL)
    assert get_norm("spectral").dual(g) == pytest.approx(s.sum(), rel=MATRIX_TOL, abs=1e-12 * scale)


@SETTINGS
@given(matrices, st.sampled_from(["spectral", "nuclear", "frobenius"]))
def test_matrix_steepest_direction_is_a_dual_norm_maximiser(g, name):
    """Lemma 2.2 in matrix form: <G, Delta> = ||G||_* and ||Delta|| = 1 (0 for G = 0)."""
    norm = get_norm(name)
    d = norm.steepest_direction(g)
    dual = norm.dual(g)
    assert d.shape == g.shape
    if dual == 0.0:
        assert not d.any()
        return
    assert np.sum(g * d) == pytest.approx(dual, rel=1e-9)
    assert norm.value(d) == pytest.approx(1.0, rel=1e-9)


@SETTINGS
@given(matrices)
def test_polar_factor_svd_identities(g):
    """P = U V^T is a partial isometry (P P^T P = P), G^T P = V S V^T is symmetric positive
    semi-definite, and P (V S V^T) = G: the polar decomposition."""
    p = polar_factor(g)
    np.testing.assert_allclose(p @ p.T @ p, p, atol=1e-9, rtol=0)
    sym = g.T @ p
    np.testing.assert_allclose(sym, sym.T, atol=1e-9 * max(1.0, np.abs(g).max()), rtol=0)
    assert np.linalg.eigvalsh(0.5 * (sym + sym.T)).min() >= -1e-9 * max(1.0, np.abs(g).max())
    np.testing.assert_allclose(p @ sym, g, atol=1e-9 * max(1.0, np.abs(g).max()), rtol=0)  # G = (UV^T)(V S V^T)


def test_polar_factor_rank_deficient_tie_rule():
    """For rank r < min(m, n) the returned maximiser is zero on the null spaces: rank r, and its
    singular values are r ones and zeros."""
    rng = np.random.default_rng(0)
    g = low_rank(rng, 5, 4, 2)
    s = np.linalg.svd(polar_factor(g), compute_uv=False)
    np.testing.assert_allclose(s, [1, 1, 0, 0], atol=1e-12, rtol=0)
    assert not get_norm("spectral").steepest_direction(np.zeros((3, 2))).any()


def test_spectral_lmo_and_nsd_wd_accept_matrices():
    from implicit_bias.steepest import frank_wolfe_step, nsd_wd_step
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    spec = get_norm("spectral")
    s = spec.lmo(g, 2.0)
    assert spec.value(s) == pytest.approx(2.0) and np.sum(g * s) == pytest.approx(-2 * spec.dual(g))
    # Theorem 3.2 in the spectral norm: NSD-WD step = FW step with gamma = lr * wd, r = 1/wd
    np.testing.assert_allclose(nsd_wd_step(x, g, 0.1, 2.0, "spectral"), frank_wolfe_step(x, g, 0.2, 0.5, "spectral"), atol=1e-14, rtol=0)


@pytest.mark.parametrize("name", ["spectral", "nuclear", "frobenius"])
def test_matrix_random_point_and_bad_inputs(name):
    norm = get_norm(name)
    x = norm.random_point(np.random.default_rng(0), (3, 5), radius=1.5)
    assert x.shape == (3, 5) and norm.value(x) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="2 dimension"):
        norm.value(np.ones(3))
    with pytest.raises(ValueError, match="finite"):
        norm.steepest_direction(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError):
        MatrixNorm("schatten-3")


def test_norms_read_torch_tensors_and_a_models_parameters():
    """The natural calls on a PyTorch model work and equal the hand-flattened float64 vector."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double().numpy()
    for norm in ("linf", "l1", "l2"):
        expected = get_norm(norm).value(flat)
        assert get_norm(norm).value(list(model.parameters())) == expected     # list of tensors
        assert get_norm(norm).value(model.parameters()) == expected           # the generator
    weight = model[0].weight                                                   # requires_grad
    assert get_norm("linf").value(weight) == float(weight.detach().abs().max())
    assert get_norm("spectral").value(weight) == pytest.approx(
        float(torch.linalg.matrix_norm(weight.detach().double(), 2)), rel=1e-12)
    half = weight.detach().half()                                              # any dtype
    assert get_norm("linf").value(half) == float(half.abs().max())
    with pytest.raises(ValueError, match="must be finite"):
        get_norm("linf").value([weight, torch.tensor([float("nan")])])
