"""Tests of the book-support module: tables render as MyST would, setup is reproducible."""

import numpy as np
import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

from implicit_bias import chapter


def render(markdown: str) -> str:
    """HTML of ``markdown`` through markdown-it with tables and $math$, as MyST parses it."""
    return MarkdownIt("commonmark").enable("table").use(dollarmath_plugin).render(markdown)


def test_table_matches_the_hand_built_markdown_it_replaces():
    rows = [("ℓ1", 1.23456e-5, 3), ("ℓ∞", 0.5, 12)]
    by_hand = "| norm | gap | steps |\n|---|---:|---:|\n" + "\n".join(
        f"| {name} | {gap:.2e} | {steps:d} |" for name, gap, steps in rows)
    table = chapter.markdown_table(rows, ["norm", "gap", "steps"], align="-rr", formats=["", ".2e", "d"])
    assert render(table) == render(by_hand)


def test_cells_keep_math_and_escaped_pipes():
    table = chapter.markdown_table([["$\\|x\\|_\\infty$", "a|b"]], ["$x$", "y"])
    html = render(table)
    assert '<span class="math inline">\\|x\\|_\\infty</span>' in html
    assert "<td>a|b</td>" in html
    assert html.count("<td>") == 2  # the pipes did not split the cells
    assert "a\\|b" in table


def test_strings_are_shown_verbatim_and_numbers_formatted():
    table = chapter.markdown_table([["1.50", 1.5, 2]], ["s", "f", "i"], formats=["", ".3f", "d"])
    assert table.splitlines()[-1].split("|")[1:-1] == [" 1.50 ", " 1.500 ", " 2 "]
    assert chapter.markdown_table([[0.25]], ["x"], formats=".0%").splitlines()[-1] == "| 25% |"


def test_alignment_rule():
    rule = chapter.markdown_table([[1, 2, 3, 4]], ["a", "b", "c", "d"], align="lrc-").splitlines()[1]
    segments = rule.split("|")[1:-1]
    assert segments[0].startswith(":") and not segments[0].endswith(":")
    assert segments[1].endswith(":") and not segments[1].startswith(":")
    assert segments[2].startswith(":") and segments[2].endswith(":")
    assert set(segments[3]) == {"-"}
    assert set(chapter.markdown_table([[1]], ["a"]).splitlines()[1]) <= {"|", "-"}


@pytest.mark.parametrize("kwargs", [dict(align="lr"), dict(align="x"), dict(formats=["", ""])])
def test_bad_column_specs_raise(kwargs):
    with pytest.raises(ValueError):
        chapter.markdown_table([[1]], ["a"], **kwargs)


def test_ragged_row_raises():
    with pytest.raises(ValueError, match="row"):
        chapter.markdown_table([[1, 2]], ["a"])


def test_setup_returns_the_seeded_generator_and_applies_the_style(capsys):
    import matplotlib as mpl

    rng = chapter.setup(7)
    assert "seed 7" in capsys.readouterr().out
    assert rng.random() == np.random.default_rng(7).random()
    assert mpl.rcParams["axes.spines.top"] is False


def test_setup_seeds_torch():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    try:
        chapter.setup(5, torch=True)
        first = torch.rand(3)
        torch.manual_seed(5)
        torch.testing.assert_close(first, torch.rand(3), rtol=0, atol=0)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


def test_tolerance_names_follow_the_rule():
    names = [name for name in vars(chapter) if name.startswith("TOL")]
    assert names and all(name.startswith("TOL_") and name.isupper() for name in names)
    assert set(names) <= set(chapter.__all__)
