"""Tests of implicit_bias.adamw (NumPy float64 AdamW / Adam-l2, Algorithm 1)."""

import math

import numpy as np
import pytest
import torch

from implicit_bias import optim
from implicit_bias.adamw import adam_direction, adam_moments, run_adamw
from implicit_bias.steepest import run_nsd_wd

TOL_FLOAT64 = 1e-12  # accumulated round-off of a few hundred float64 steps on O(1) iterates


def quadratic(seed=0, d=5):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(d, d))
    a, c = m @ m.T / d + 0.1 * np.eye(d), 2.0 * rng.normal(size=d)
    return a, c, (lambda x: a @ (x - c))


def test_beta_zero_is_signgd_with_weight_decay():
    """beta1 = beta2 = 0: m/sqrt(v) = g/|g| = sign(g), so AdamW is NSD-WD in l_inf, bit for bit."""
    _, _, grad = quadratic()
    lrs = 0.05 / np.sqrt(np.arange(1, 501))
    x0 = np.linspace(-1.5, 1.5, 5)
    adam = run_adamw(grad, x0, lrs, betas=(0.0, 0.0), eps=0.0, weight_decay=0.7)
    nsd = run_nsd_wd(grad, x0, lrs, 500, 0.7, "linf")
    assert np.array_equal(adam.xs, nsd.xs)


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.9, 0.99), (0.0, 0.99)])
def test_bias_correction_matches_torch_adamw(betas):
    """bias_correction=True reproduces torch.optim.AdamW (float64) over 300 steps.

    (Short-memory pairs such as (0.5, 0.5) make the iterates oscillate around the constrained
    optimum with sign-like steps, which amplifies the 1e-16 difference between the two kernels'
    rounding exponentially; they agree to round-off for the first ~100 steps only.)"""
    a, c, grad = quadratic(1)
    lr, wd, eps, steps = 0.01, 0.3, 1e-8, 300
    x0 = np.full(5, 0.2)
    ours = run_adamw(grad, x0, np.full(steps, lr), betas, eps, wd, bias_correction=True)
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    at, ct = torch.tensor(a), torch.tensor(c)
    opt = torch.optim.AdamW([p], lr=lr, betas=betas, eps=eps, weight_decay=wd, foreach=False)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * (p - ct) @ at @ (p - ct)).backward()
        opt.step()
    assert np.max(np.abs(p.detach().numpy() - ours.final)) < TOL_FLOAT64


def test_torch_adamw_without_bias_correction_matches_numpy():
    """Our torch AdamW (Algorithm 1, eps = 0, decreasing lr) equals run_adamw in float64."""
    a, c, grad = quadratic(2)
    lrs = 0.05 / np.sqrt(np.arange(1, 301))
    x0 = np.full(5, -0.3)
    ours = run_adamw(grad, x0, lrs, (0.9, 0.99), 0.0, 1.0)
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    at, ct = torch.tensor(a), torch.tensor(c)
    opt = optim.AdamW([p], lr=float(lrs[0]), betas=(0.9, 0.99), eps=0.0, weight_decay=1.0)
    for lr in lrs:
        opt.param_groups[0]["lr"] = float(lr)
        opt.zero_grad()
        (0.5 * (p - ct) @ at @ (p - ct)).backward()
        opt.step()
    assert np.max(np.abs(p.detach().numpy() - ours.final)) < TOL_FLOAT64


def test_adam_l2_adds_lambda_x_to_the_gradient():
    _, _, grad = quadratic(3)
    lrs = np.full(50, 0.01)
    x0 = np.ones(5)
    l2 = run_adamw(grad, x0, lrs, (0.9, 0.99), 0.0, 0.5, l2=True)
    plain = run_adamw(lambda x: grad(x) + 0.5 * x, x0, lrs, (0.9, 0.99), 0.0, 0.0)
    assert np.array_equal(l2.xs, plain.xs)


def test_zero_over_zero_is_zero():
    assert adam_direction(np.array([0.0, 1.0]), np.array([0.0, 4.0])).tolist() == [0.0, 0.5]
    h = run_adamw(lambda x: np.array([0.0, 1.0]), np.zeros(2), np.full(3, 0.1), (0.9, 0.99), 0.0, 1.0)
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
