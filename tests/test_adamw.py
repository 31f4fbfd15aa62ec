"""Tests of implicit_bias.adamw (NumPy float64 AdamW / Adam-l2, Algorithm 1)."""

import math

import numpy as np
import pytest
import torch

from implicit_bias import optim
from implicit_bias.adamw import adam_direction, adam_moments, run_adam_l2, run_adamw
from implicit_bias.steepest import run_nsd_wd

TOL_FLOAT64 = 1e-12  # accumulated round-off of a few hundred float64 steps on O(1) iterates


def test_beta_zero_is_signgd_with_weight_decay(quadratic):
    """beta1 = beta2 = 0: m/sqrt(v) = g/|g| = sign(g), so AdamW is NSD-WD in l_inf, bit for bit."""
    _, _, grad = quadratic()
    lrs = 0.05 / np.sqrt(np.arange(1, 501))
    x0 = np.linspace(-1.5, 1.5, 5)
    adam = run_adamw(grad, x0, lrs, betas=(0.0, 0.0), eps=0.0, weight_decay=0.7)
    nsd = run_nsd_wd(grad, x0, lrs, weight_decay=0.7, norm="linf")
    np.testing.assert_array_equal(adam.xs, nsd.xs)


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.9, 0.99), (0.0, 0.99)])
def test_bias_correction_matches_torch_adamw(betas, quadratic):
    """bias_correction=True reproduces torch.optim.AdamW (float64) over 300 steps.

    (Short-memory pairs such as (0.5, 0.5) make the iterates oscillate around the constrained
    optimum with sign-like steps, which amplifies the 1e-16 difference between the two kernels'
    rounding exponentially; they agree to round-off for the first ~100 steps only.)"""
    _, _, grad = quadratic(1)
    lr, wd, eps, steps = 0.01, 0.3, 1e-8, 300
    x0 = np.full(5, 0.2)
    hyper = dict(betas=betas, eps=eps, weight_decay=wd)
    ours = run_adamw(grad, x0, np.full(steps, lr), bias_correction=True, **hyper)
    theirs = optim.run_torch_optimizer(grad, x0, np.full(steps, lr), optimizer=torch.optim.AdamW,
                                       foreach=False, **hyper)
    assert np.max(np.abs(theirs.final - ours.final)) < TOL_FLOAT64


def test_torch_adamw_without_bias_correction_matches_numpy(quadratic):
    """Our torch AdamW (Algorithm 1, eps = 0, decreasing lr) equals run_adamw in float64."""
    _, _, grad = quadratic(2)
    lrs = 0.05 / np.sqrt(np.arange(1, 301))
    x0 = np.full(5, -0.3)
    hyper = dict(betas=(0.9, 0.99), eps=0.0, weight_decay=1.0)
    ours = run_adamw(grad, x0, lrs, **hyper)
    theirs = optim.run_torch_optimizer(grad, x0, lrs, optimizer=optim.AdamW, **hyper)
    assert np.max(np.abs(theirs.xs - ours.xs)) < TOL_FLOAT64


def test_adam_l2_adds_lambda_x_to_the_gradient(quadratic):
    _, _, grad = quadratic(3)
    lrs = np.full(50, 0.01)
    x0 = np.ones(5)
    l2 = run_adam_l2(grad, x0, lrs, betas=(0.9, 0.99), eps=0.0, weight_decay=0.5)
    plain = run_adamw(lambda x: grad(x) + 0.5 * x, x0, lrs, betas=(0.9, 0.99), eps=0.0,
                      weight_decay=0.0)
    np.testing.assert_array_equal(l2.xs, plain.xs)


def test_zero_over_zero_is_zero():
    assert adam_direction(np.array([0.0, 1.0]), np.array([0.0, 4.0])).tolist() == [0.0, 0.5]
    h = run_adamw(lambda x: np.array([0.0, 1.0]), np.zeros(2), np.full(3, 0.1), betas=(0.9, 0.99),
                  eps=0.0, weight_decay=1.0)
    assert np.all(h.xs[:, 0] == 0.0) and np.all(np.isfinite(h.xs))


def test_equal_betas_keep_updates_in_unit_ball():
    """beta1 = beta2 and zero moments: |m_t| <= sqrt(v_t) (Cauchy-Schwarz), so |Delta_t| <= 1."""
    g = np.random.default_rng(4).standard_cauchy(size=(400, 3))
    _, _, delta = adam_moments(g, (0.95, 0.95))
    assert np.max(np.abs(delta)) <= 1.0 + 1e-15


@pytest.mark.parametrize("kwargs, name", [
    (dict(betas=(1.0, 0.9)), "beta1"), (dict(betas=(-0.1, 0.9)), "beta1"),
    (dict(betas=(0.9, 1.0)), "beta2"), (dict(betas=(0.9, math.nan)), "beta2"),
    (dict(eps=-1e-8), "eps"), (dict(eps=math.inf), "eps"),
    (dict(weight_decay=-0.1), "weight_decay"), (dict(weight_decay=math.inf), "weight_decay"),
])
def test_invalid_hyperparameters(kwargs, name):
    args = dict(betas=(0.9, 0.99), eps=0.0, weight_decay=0.1) | kwargs
    with pytest.raises(ValueError, match=name):
        run_adamw(lambda x: x, np.zeros(2), np.full(3, 0.1), **args)


def test_invalid_learning_rates():
    with pytest.raises(ValueError, match="lrs"):
        run_adamw(lambda x: x, np.zeros(2), np.array([0.1, -0.1]))
