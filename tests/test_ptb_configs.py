"""Settings added to TrainConfig after runs were saved, and the cpu-wide preset."""

import pytest

from implicit_bias.ptb.configs import config_differences, get_config


def test_a_setting_added_later_counts_as_its_default_in_old_runs():
    now = get_config("cpu").to_dict()
    saved = {k: v for k, v in now.items() if k != "vocab"}  # a run.json from before `vocab`
    assert config_differences(saved, now) == {}
    assert config_differences(saved, {**now, "vocab": "full"}) == {"vocab": ("train", "full")}


def test_cpu_wide_is_the_paper_model_on_the_cpu_budget():
    cpu, wide, paper = get_config("cpu"), get_config("cpu-wide"), get_config("paper")
    assert (wide.d_model, wide.d_ff, wide.n_heads, wide.n_layers) == (
        paper.d_model, paper.d_ff, paper.n_heads, paper.n_layers)
    assert wide.vocab == "full" and cpu.vocab == "train"
    assert (wide.train_tokens, wide.lr, wide.steps) == (cpu.train_tokens, cpu.lr, cpu.steps)
    with pytest.raises(ValueError, match="vocab='all' is invalid: must be one of"):
        get_config("cpu", vocab="all")
