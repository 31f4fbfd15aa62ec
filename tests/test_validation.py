"""Tests of implicit_bias.validation, of the decay-product check in every optimizer with
decoupled weight decay, and of the deprecated names (each warns and returns the new object)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from implicit_bias import _compat, adamw, bounds, optim, problems, steepest, validation


@pytest.mark.parametrize("value", [-1e-300, math.nan, math.inf, "0.1", True, torch.tensor(0.1),
                                   np.array([0.1])])
def test_nonneg_finite_rejects_and_names_the_parameter(value):
    with pytest.raises(ValueError, match="lr"):
        validation.nonneg_finite("lr", value)


def test_ranges_and_their_messages():
    assert validation.nonneg_finite("lr", 0) == 0.0
    assert validation.unit_interval("step_size", 1.0, closed=True) == 1.0
    with pytest.raises(ValueError, match=r"beta1 must lie in \[0, 1\)"):
        validation.unit_interval("beta1", 1.0)
    with pytest.raises(ValueError, match="beta1 <= beta2"):
        validation.betas((0.99, 0.9), ordered=True)
    assert validation.betas((0.99, 0.9)) == (0.99, 0.9)  # unordered is fine without ordered=True
    with pytest.raises(ValueError, match="pair"):
        validation.betas(0.9)
    with pytest.raises(ValueError, match="dim"):
        validation.positive_int("dim", 2.0)


@pytest.mark.parametrize("lr, weight_decay, factor", [(0.5, 2.0, 0.0), (0.1, 0.0, 1.0),
                                                      (0.25, 2.0, 0.5)])
def test_decay_factor_at_and_inside_the_boundary(lr, weight_decay, factor):
    assert validation.decay_factor(lr, weight_decay) == factor


def test_decay_factor_explains_why_a_large_product_is_rejected():
    with pytest.raises(ValueError, match="lr \\* weight_decay must be <= 1.*flip the sign"):
        validation.decay_factor(0.5 + 1e-12, 2.0)


def test_finite_array_and_same_shape():
    with pytest.raises(ValueError, match="must have 1 dimension"):
        validation.finite_array("lrs", [[0.1]], ndim=1)
    with pytest.raises(ValueError, match="lrs must be >= 0"):
        validation.finite_array("lrs", [0.1, -0.1], nonneg=True)
    with pytest.raises(ValueError, match=r"x \(3,\) and grad \(3, 1\)"):
        validation.same_shape(x=np.ones(3), grad=np.ones((3, 1)))


# ----- lr * weight_decay > 1 in the optimizers ------------------------------------------------
def _param():
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.ones(2)
    return p


@pytest.mark.parametrize("make", [
    lambda p, **kw: optim.AdamW([p], **kw),
    lambda p, **kw: optim.NormalizedSteepestDescent([p], **kw),
])
def test_decoupled_optimizers_reject_a_sign_flipping_decay(make):
    with pytest.raises(ValueError, match="flip the sign"):
        make(_param(), lr=0.5, weight_decay=3.0)
    # a later lr (a scheduler, a group edit) is checked at the step, before anything is changed
    p = _param()
    opt = make(p, lr=0.1, weight_decay=3.0)
    opt.param_groups[0]["lr"] = 0.5
    with pytest.raises(ValueError, match="flip the sign"):
        opt.step()
    torch.testing.assert_close(p.detach(), torch.ones(2), rtol=0, atol=0)


def test_adam_l2_accepts_any_decay_product():
    """Adam-l2 multiplies nothing by 1 - lr * weight_decay, so a large product is legitimate."""
    optim.AdamL2([_param()], lr=0.5, weight_decay=3.0).step()


def test_numpy_reference_rejects_a_sign_flipping_decay():
    with pytest.raises(ValueError, match="flip the sign"):
        adamw.run_adamw(lambda x: x, np.ones(2), [0.1, 0.6], weight_decay=2.0)
    with pytest.raises(ValueError, match="flip the sign"):
        steepest.run_nsd_wd(lambda x: x, np.ones(2), [0.6], weight_decay=2.0, norm="l2")


# ----- deprecated names -----------------------------------------------------------------------
@pytest.mark.parametrize("module, old, new", [
    (steepest, "Trajectory", steepest.History),
    (adamw, "AdamHistory", adamw.History),
    (bounds, "stationary_ratio", bounds.stationary_update_size),
    (bounds, "gradient_stream", bounds.replay_gradients),
    (problems, "eq3_problem", problems.box_target_quadratic),
    (problems, "figure3_runs", steepest.loss_curves),
    (problems, "FIGURE3_METHODS", steepest.LOSS_CURVE_METHODS),
])
def test_deprecated_names_warn_and_point_to_the_new_ones(module, old, new):
    with pytest.deprecated_call(match=old):
        assert getattr(module, old) is new


@pytest.mark.parametrize("module", [adamw, bounds, problems, steepest])
def test_unknown_names_still_raise_attribute_error(module):
    # the deprecation __getattr__ (one mechanism: _compat.deprecated_names) only knows old names
    with pytest.raises(AttributeError, match="no_such_name"):
        module.no_such_name


def test_deprecated_names_is_the_only_mechanism():
    renamed = {"old": ("new", lambda: 42)}
    getattr_ = _compat.deprecated_names("pkg.mod", renamed)
    with pytest.warns(DeprecationWarning, match=r"pkg\.mod\.old is deprecated; use new"):
        assert getattr_("old") == 42
    with pytest.raises(AttributeError, match="'pkg.mod' has no attribute 'new'"):
        getattr_("new")


def test_run_adamw_has_no_l2_keyword():
    # removed at 0.1.0 (its callers use run_adam_l2): python's own TypeError
    with pytest.raises(TypeError, match="l2"):
        adamw.run_adamw(lambda x: x, np.zeros(2), [0.1], weight_decay=0.5, l2=True)
