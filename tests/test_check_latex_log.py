"""scripts/check_latex_log.py: the PDF's dead cross-references are found in TeX's wrapped log."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_latex_log.py"
spec = importlib.util.spec_from_file_location("check_latex_log", SCRIPT)
check_latex_log = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_latex_log)

# Two warnings as TeX writes them: wrapped at 79 columns, the second one inside the label.
WRAPPED_LOG = """\
LaTeX Warning: Hyper reference `book/adam_update_bounds:lem-4-2' on page 85 und
efined on input line 6532.

LaTeX Warning: Reference `book/adam_update_bounds:prop-max-adam-upd
ate' on page 247 undefined on input line 9.
LaTeX Warning: Hyper reference `book/adam_update_bounds:lem-4-2' on page 88 undefined on x.
"""


def test_wrapped_warnings_are_found_once_each():
    assert check_latex_log.undefined_references(WRAPPED_LOG) == [
        "book/adam_update_bounds:lem-4-2", "book/adam_update_bounds:prop-max-adam-update"]


def test_a_clean_log_passes_and_a_dead_link_fails(tmp_path, capsys):
    log = tmp_path / "book.log"
    log.write_text("Output written on book.pdf (263 pages).\n")
    assert check_latex_log.main(["check", str(log)]) == 0
    log.write_text(WRAPPED_LOG)
    assert check_latex_log.main(["check", str(log)]) == 1
    assert "2 undefined reference(s)" in capsys.readouterr().err


def test_a_missing_log_says_how_to_make_it(tmp_path, capsys):
    assert check_latex_log.main(["check", str(tmp_path / "book.log")]) == 2
    assert "make pdf" in capsys.readouterr().err
