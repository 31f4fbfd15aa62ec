"""plotting: the one home of optimizer colours and labels."""

from implicit_bias import plotting
from implicit_bias.ptb.configs import OPTIMIZERS


def test_every_ptb_optimizer_has_one_colour_and_one_label():
    missing = [name for name in OPTIMIZERS
               if name not in plotting.OPTIMIZER_COLORS or name not in plotting.OPTIMIZER_LABELS]
    assert not missing, missing
    assert set(plotting.OPTIMIZER_COLORS) == set(plotting.OPTIMIZER_LABELS)


def test_optimizer_colours_are_distinct():
    colours = list(plotting.OPTIMIZER_COLORS.values())
    assert len(set(colours)) == len(colours), colours


def test_method_colours_are_distinct_and_agree_with_the_optimizer_colours():
    colours = list(plotting.METHOD_COLORS.values())
    assert len(set(colours)) == len(colours), colours
    assert plotting.METHOD_COLORS["adam"] == plotting.OPTIMIZER_COLORS["adamw"]
    assert plotting.METHOD_COLORS["gd"] == plotting.OPTIMIZER_COLORS["sgd"]
