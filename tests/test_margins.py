"""implicit_bias.margins: maximum normalized margins, checked against independent programs."""

import math

import cvxpy as cp
import numpy as np
import pytest

from implicit_bias.margins import (MULTICLASS_NORMS, MaxMargin, max_margin,
                                   max_margin_multiclass, normalized_margin)
from implicit_bias.norms import get_norm


def separable_data(n=30, d=5, seed=0, gap=0.3):
    """Gaussian points labelled by a random hyperplane, with the points closer than ``gap``
    to it removed (so the data are separable with a margin bounded away from zero)."""
    rng = np.random.default_rng(seed)
    normal = rng.standard_normal(d)
    X = rng.standard_normal((4 * n, d))
    score = X @ normal / np.linalg.norm(normal)
    keep = np.abs(score) > gap
    return X[keep][:n], np.sign(score[keep][:n])


def dual_margin(X, y, p):
    """The dual form 1 / min{||w||_p : y_i <x_i, w> >= 1}, solved independently by cvxpy."""
    w = cp.Variable(X.shape[1])
    order = "inf" if math.isinf(p) else p
    program = cp.Problem(cp.Minimize(cp.norm(w, order)), [cp.multiply(y, X @ w) >= 1])
    program.solve(solver="CLARABEL")
    return 1.0 / program.value


@pytest.mark.parametrize("norm, p", [("linf", math.inf), ("l1", 1.0), ("l2", 2.0),
                                     ("l3", 3.0), (1.5, 1.5)])
def test_max_margin_equals_its_dual(norm, p):
    X, y = separable_data()
    result = max_margin(X, y, norm)
    assert isinstance(result, MaxMargin)
    np.testing.assert_allclose(result.margin, dual_margin(X, y, p), rtol=1e-6)


@pytest.mark.parametrize("norm", ["linf", "l1"])
def test_highs_and_cvxpy_agree_on_the_linear_programs(norm):
    X, y = separable_data(seed=1)
    highs = max_margin(X, y, norm)
    conic = max_margin(X, y, norm, solver="cvxpy")
    assert (highs.solver, conic.solver) == ("highs", "cvxpy")
    np.testing.assert_allclose(highs.margin, conic.margin, rtol=1e-6)


@pytest.mark.parametrize("norm", ["linf", "l1", "l2", "l1.5"])
def test_direction_is_a_unit_vector_whose_margin_is_reported(norm):
    X, y = separable_data(seed=2)
    result = max_margin(X, y, norm)
    np.testing.assert_allclose(get_norm(norm).value(result.direction), 1.0, rtol=1e-12)
    np.testing.assert_allclose(result.margin, np.min(y * (X @ result.direction)), rtol=1e-12)
    np.testing.assert_allclose(normalized_margin(result.direction, X, y, norm), result.margin,
                               rtol=1e-12)


def test_margins_are_ordered_by_the_nesting_of_the_unit_balls():
    # B_1 in B_2 in B_inf in sqrt(d) B_2: gamma_1 <= gamma_2 <= gamma_inf <= sqrt(d) gamma_2
    X, y = separable_data(d=6, seed=3)
    g1, g2, ginf = (max_margin(X, y, norm).margin for norm in ("l1", "l2", "linf"))
    assert g1 <= g2 * (1 + 1e-7) and g2 <= ginf * (1 + 1e-7), (g1, g2, ginf)
    assert ginf <= math.sqrt(6) * g2 * (1 + 1e-7), (ginf, g2)


def test_no_other_direction_beats_the_maximum_margin():
    X, y = separable_data(seed=4)
    best = max_margin(X, y, "linf").margin
    trials = np.random.default_rng(0).standard_normal((2000, X.shape[1]))
    margins = [normalized_margin(w, X, y, "linf") for w in trials]
    assert max(margins) <= best + 1e-9, (max(margins), best)


def test_normalized_margin_is_scale_invariant():
    X, y = separable_data(seed=5)
    w = np.random.default_rng(1).standard_normal(X.shape[1])
    np.testing.assert_allclose(normalized_margin(7.5 * w, X, y, "l2"),
                               normalized_margin(w, X, y, "l2"), rtol=1e-12)


@pytest.mark.parametrize("norm, factor", [("max", 2.0), ("fro", math.sqrt(2.0)),
                                          ("spectral", math.sqrt(2.0))])
def test_two_class_multiclass_margin_reduces_to_the_binary_one(norm, factor):
    # W = (w_0; w_1) scores label 1 by u = w_1 - w_0; the optimum is W = (-u, u) / 2
    X, y = separable_data(seed=6)
    labels = ((y + 1) // 2).astype(int)
    binary = max_margin(X, y, "linf" if norm == "max" else "l2").margin
    multi = max_margin_multiclass(X, labels, norm)
    assert multi.direction.shape == (2, X.shape[1])
    np.testing.assert_allclose(multi.margin, factor * binary, rtol=1e-6)


def test_multiclass_spectral_margin_is_at_least_the_frobenius_one():
    # ||W||_2 <= ||W||_F, so the spectral ball is larger and its margin at least the Frobenius one
    rng = np.random.default_rng(7)
    centres = 4.0 * np.eye(3, 4)
    labels = np.repeat(np.arange(3), 8)
    X = centres[labels] + 0.3 * rng.standard_normal((24, 4))
    fro = max_margin_multiclass(X, labels, "fro")
    spectral = max_margin_multiclass(X, labels, "spectral")
    assert fro.margin > 0 and spectral.margin >= fro.margin * (1 - 1e-6), (fro, spectral)
    np.testing.assert_allclose(np.linalg.norm(spectral.direction, 2), 1.0, rtol=1e-9)
    np.testing.assert_allclose(normalized_margin(spectral.direction, X, labels, "spectral"),
                               spectral.margin, rtol=1e-9)


def test_multiclass_max_norm_highs_agrees_with_cvxpy():
    rng = np.random.default_rng(8)
    labels = np.repeat(np.arange(3), 6)
    X = 3.0 * np.eye(3, 3)[labels] + 0.2 * rng.standard_normal((18, 3))
    highs = max_margin_multiclass(X, labels, "max")
    conic = max_margin_multiclass(X, labels, "max", solver="cvxpy")
    np.testing.assert_allclose(highs.margin, conic.margin, rtol=1e-6)


def test_not_separable_data_raise_one_line_with_the_certificate():
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0]])
    y = np.array([1.0, 1.0, -1.0])
    with pytest.raises(ValueError, match="not linearly separable") as error:
        max_margin(X, y, "linf")
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="not linearly separable"):
        max_margin(X, y, "l2")


@pytest.mark.parametrize("X, y, match", [
    (np.ones((3, 2)), np.array([1.0, -1.0]), "one label per row"),
    (np.array([[np.nan, 1.0], [1.0, 1.0]]), np.array([1.0, -1.0]), "X"),
    (np.ones((2, 2)), np.array([0.0, 1.0]), r"\{-1, \+1\}"),
    (np.ones((2, 2)), np.array([1.0, 1.0]), "both classes"),
    (np.ones(3), np.array([1.0, -1.0, 1.0]), "X"),
])
def test_bad_binary_inputs_raise_value_error(X, y, match):
    with pytest.raises(ValueError, match=match):
        max_margin(X, y, "linf")


@pytest.mark.parametrize("kwargs, match", [
    ({"norm": "spectral"}, "l_p norm"),
    ({"norm": 0.5}, "p"),
    ({"norm": "l2", "solver": "highs"}, "solver"),
    ({"norm": "linf", "solver": "gurobi"}, "solver"),
])
def test_bad_norms_and_solvers_raise_value_error(kwargs, match):
    X, y = separable_data(n=6)
    with pytest.raises(ValueError, match=match):
        max_margin(X, y, **kwargs)


@pytest.mark.parametrize("labels, kwargs, match", [
    (np.array([0.0, 1.0, 1.0]), {}, "integers"),
    (np.array([0, 1]), {}, "shape"),
    (np.array([0, 0, 0]), {}, "two classes"),
    (np.array([0, 1, 3]), {"num_classes": 3}, r"\[0, 3\)"),
    (np.array([0, 1, 2]), {"norm": "nuclear"}, "norm must be one of"),
])
def test_bad_multiclass_inputs_raise_value_error(labels, kwargs, match):
    X = np.eye(3)
    with pytest.raises(ValueError, match=match):
        max_margin_multiclass(X, labels, **kwargs)


def test_normalized_margin_rejects_zero_and_mismatched_w():
    X, y = separable_data(n=6, d=3)
    with pytest.raises(ValueError, match="nonzero"):
        normalized_margin(np.zeros(3), X, y, "l2")
    with pytest.raises(ValueError, match="does not match"):
        normalized_margin(np.ones(4), X, y, "l2")
    with pytest.raises(ValueError, match="vector"):
        normalized_margin(np.ones((2, 2, 2)), X, y, "l2")


def test_multiclass_norm_names_measure_what_they_say():
    W = np.array([[3.0, -4.0], [0.0, 0.0]])
    expected = {"max": 4.0, "fro": 5.0, "frobenius": 5.0, "spectral": 5.0}
    for name, package_norm in MULTICLASS_NORMS.items():
        np.testing.assert_allclose(get_norm(package_norm).value(W), expected[name], rtol=1e-12,
                                   err_msg=name)
