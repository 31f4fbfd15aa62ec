"""implicit_bias.separable: data, the cross-entropy against torch, margin paths, the box bound."""

import math

import numpy as np
import pytest
import torch

from implicit_bias import margins, reference, separable
from implicit_bias.problems import LogisticRegression


def test_softmax_regression_matches_torch_cross_entropy():
    rng = np.random.default_rng(0)
    X, labels = separable.separable_multiclass(7, 4, 3, rng)
    problem = separable.SoftmaxRegression(X, labels)
    W = rng.normal(size=problem.shape)
    Wt = torch.tensor(W, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(torch.tensor(X) @ Wt.T, torch.tensor(labels))
    loss.backward()
    np.testing.assert_allclose(problem.loss(W), loss.item(), rtol=1e-13)
    np.testing.assert_allclose(problem.grad(W), Wt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_softmax_regression_is_stable_at_large_scores():
    problem = separable.SoftmaxRegression(np.eye(2), np.array([0, 1]))
    W = 1e4 * np.eye(2)  # scores 1e4 apart: exp overflows, logsumexp does not
    assert problem.loss(W) == 0.0 and np.all(np.isfinite(problem.grad(W)))


@pytest.mark.parametrize("labels, match", [(np.array([0.0, 1.0]), "integers"),
                                           (np.array([0, 1, 1]), "one per row"),
                                           (np.array([0, -1]), r"\[0, ")])
def test_softmax_regression_rejects_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        separable.SoftmaxRegression(np.eye(2), labels)


def test_softmax_regression_rejects_a_wrong_shape():
    problem = separable.SoftmaxRegression(np.eye(2), np.array([0, 1]), num_classes=3)
    with pytest.raises(ValueError, match=r"shape \(3, 2\)"):
        problem.loss(np.zeros((2, 2)))


def test_drawn_data_are_separable():
    rng = np.random.default_rng(1)
    X, y = separable.separable_binary(40, 5, rng)
    assert margins.max_margin(X, y, "l2").margin > 0
    X, labels = separable.separable_multiclass(10, 6, 3, rng, spread=0.3)
    assert margins.max_margin_multiclass(X, labels, "fro").margin > 0


def test_one_class_draw_says_what_to_change():
    with pytest.raises(ValueError, match="raise n_samples"):
        separable.separable_binary(1, 3, np.random.default_rng(0))


def test_margin_path_is_normalized_margin_and_nan_at_the_origin():
    X, y = np.array([[1.0, 2.0], [-1.0, -1.0]]), np.array([1.0, -1.0])
    xs = np.array([[0.0, 0.0], [1.0, 1.0], [3.0, 1.0]])
    path = separable.margin_path(xs, X, y, "linf")
    assert math.isnan(path[0])
    np.testing.assert_allclose(path[1:], [margins.normalized_margin(x, X, y, "linf")
                                          for x in xs[1:]], rtol=0, atol=0)
    np.testing.assert_array_equal(separable.margin_path(xs, X, y, "linf", steps=[2]), path[2:])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_box_minimiser_is_within_the_bound_of_the_max_margin(seed):
    """The proposition: gamma* - gamma(x_R) <= ln(2n)/R for R above ln(n/ln 2)/gamma*; the
    minimiser x_R of the logistic loss in the box comes from cvxpy, independently."""
    X, y = separable.separable_binary(30, 4, np.random.default_rng(seed))
    best = margins.max_margin(X, y, "linf")
    n = X.shape[0]
    lam_max = separable.box_margin_max_decay(best.margin, n)
    for lam in (0.9 * lam_max, 0.3 * lam_max, 0.1 * lam_max):
        x_box = reference.constrained_minimum(LogisticRegression(X, y), 1.0 / lam, "linf").x
        gap = best.margin - margins.normalized_margin(x_box, X, y, "linf")
        assert -1e-9 <= gap <= separable.box_margin_gap(lam, n), (lam, gap)


def test_box_bound_values_and_bad_input():
    assert separable.box_margin_gap(0.5, 4) == pytest.approx(0.5 * math.log(8.0), rel=1e-15)
    assert separable.box_margin_max_decay(2.0, 10) == pytest.approx(
        2.0 / math.log(10 / math.log(2.0)), rel=1e-15)
    assert separable.box_margin_max_decay(1.0, 1) == math.inf
    with pytest.raises(ValueError, match="weight_decay"):
        separable.box_margin_gap(0.0, 4)
    with pytest.raises(ValueError, match="max_margin"):
        separable.box_margin_max_decay(-1.0, 4)


# ----- per-sample training (chapter section on incremental Adam) -----------------------------

def test_equal_magnitude_points_share_one_magnitude_and_are_separable():
    X, y = separable.equal_magnitude_binary(20, 10, np.random.default_rng(1))
    magnitudes = np.abs(X)
    assert np.allclose(magnitudes, magnitudes[:, :1]) and set(y) == {-1.0, 1.0}
    assert margins.max_margin(X, y, "l2").margin > 0
    with pytest.raises(ValueError, match="scale_range"):
        separable.equal_magnitude_binary(5, 2, np.random.default_rng(0), scale_range=(2.0, 1.0))
    with pytest.raises(ValueError, match="n_samples"):
        separable.equal_magnitude_binary(0, 2, np.random.default_rng(0))


def test_cyclic_oracle_cycles_batches_and_a_full_batch_is_the_full_gradient():
    X, y = separable.equal_magnitude_binary(6, 3, np.random.default_rng(0))
    w = np.random.default_rng(1).normal(size=3)
    full = LogisticRegression(X, y).grad(w)
    np.testing.assert_allclose(separable.CyclicBatchGradient(X, y, batch_size=6)(w), full,
                               rtol=1e-14, atol=0)
    oracle = separable.CyclicBatchGradient(X, y, batch_size=2)
    epoch = [oracle(w) for _ in range(3)]
    np.testing.assert_allclose(np.mean(epoch, axis=0), full, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(oracle(w), epoch[0])  # the cycle starts again
    assert oracle.calls == 4
    with pytest.raises(ValueError, match="batch_size=4 is invalid: must divide"):
        separable.CyclicBatchGradient(X, y, batch_size=4)


def test_incremental_adam_second_moment_is_a_scalar_on_equal_magnitude_data():
    from implicit_bias import adamw

    X, y = separable.equal_magnitude_binary(8, 5, np.random.default_rng(2))
    lrs = np.full(200, 0.05)
    inc = adamw.run_adamw(separable.CyclicBatchGradient(X, y), np.zeros(5), lrs, betas=(0.9, 0.99))
    full = adamw.run_adamw(LogisticRegression(X, y).grad, np.zeros(5), lrs, betas=(0.9, 0.99))
    assert np.all(np.ptp(inc.vs[1:], axis=1) <= 1e-12 * inc.vs[1:].max(axis=1))
    assert np.max(np.ptp(full.vs[1:], axis=1) / full.vs[1:].max(axis=1)) > 0.1
