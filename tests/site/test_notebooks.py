"""Every chapter notebook the site offers for download runs from a folder outside the repository.

A reader downloads ``<chapter>.ipynb`` into some folder and runs it. Here each notebook is
copied into a fresh scratch folder (pytest's tmp_path, outside the repository) and executed
there with nbclient, by the ``python3`` kernel of this environment, with the scratch folder
as working directory and ``PTB_DIR`` (if set) as the only data location. The test fails on a
cell error, on files the notebook leaves in the scratch folder, and on anything left in its
temporary directory (the PTB chapter's ``ptb-chapter-*`` scratch runs included).

Parametrised per notebook, so ``pytest -n 2`` spreads them. SITE_DIR as in conftest.py.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote

import pytest

# The notebooks tested: every .ipynb that a chapter page (book/*.html) links for download, and
# every file matching this glob (relative to the built site: where the site keeps them).
NOTEBOOK_GLOB = "_sources/book/*.ipynb"
CELL_TIMEOUT_S = 600
KERNEL_NAME = "python3"
# Files a notebook may leave next to itself (none today).
EXPECTED_LEFTOVERS: set[str] = set()
# Environment variables that could point a notebook at the repository or its data: not passed on.
DROPPED_ENV_PREFIXES = ("IMPLICIT_BIAS_", "PYTHONPATH", "SITE_DIR", "SCREENSHOT_DIR", "JUPYTER_")
TMP_LEFTOVER_GLOB = "ptb-chapter-*"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

REPO = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("SITE_DIR") or REPO / "_build" / "html").resolve()


def offered_notebooks(site: Path) -> tuple[list[Path], list[str]]:
    """The notebooks the site offers (linked from a chapter page or matching NOTEBOOK_GLOB), and
    the links to notebooks that do not exist."""
    found, broken = set(site.glob(NOTEBOOK_GLOB)), []
    for page in sorted(site.glob("book/*.html")):
        for href in re.findall(r'href="([^"#?]+\.ipynb)"', page.read_text(errors="replace")):
            if "://" in href:
                continue
            target = (page.parent / unquote(href)).resolve()
            if target.is_file():
                found.add(target)
            else:
                broken.append(f"{page.relative_to(site)} -> {href}")
    return sorted(found, key=lambda p: p.name), broken


NOTEBOOKS, BROKEN_LINKS = offered_notebooks(SITE)


def _kernel_env(tmpdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_ENV_PREFIXES)}
    # torch.compile keeps its cache in the system temp dir (torchinductor_<user>): leave it
    # there, warm and shared, so the private TMPDIR holds only what the notebook leaves.
    env.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path(tempfile.gettempdir()) / f"torchinductor_{getpass.getuser()}"))
    env["TMPDIR"] = str(tmpdir)
    # The kernel must be this environment's Python, whatever other kernelspecs the machine has.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


@pytest.fixture
def kernelspec_dir(tmp_path_factory, monkeypatch) -> Path:
    """A ``python3`` kernelspec for sys.executable, first on JUPYTER_PATH."""
    share = tmp_path_factory.mktemp("jupyter")
    spec = share / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "Python 3 (this environment)", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(share))
    return share


def test_notebooks_found():
    if not NOTEBOOKS:
        pytest.fail(f"no chapter notebooks in {SITE} (no .ipynb linked from book/*.html, none at "
                    f"{NOTEBOOK_GLOB}): the site must offer each chapter's executed .ipynb for "
                    "download (build it with `make book`, or set SITE_DIR)", pytrace=False)
    if BROKEN_LINKS:
        pytest.fail(f"download links to missing notebooks: {BROKEN_LINKS}", pytrace=False)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_outside_repository(notebook: Path, tmp_path, kernelspec_dir):
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    scratch = tmp_path / "scratch"
    tmpdir = tmp_path / "tmp"
    scratch.mkdir()
    tmpdir.mkdir()
    assert REPO not in scratch.parents, "the scratch folder must be outside the repository"
    copy = scratch / notebook.name
    shutil.copyfile(notebook, copy)

    spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    if Path(spec.argv[0]) != Path(sys.executable):
        pytest.fail(f"kernel {KERNEL_NAME} runs {spec.argv[0]}, not {sys.executable}", pytrace=False)

    global_tmp = Path(tempfile.gettempdir())
    before = set(global_tmp.glob(TMP_LEFTOVER_GLOB))

    nb = nbformat.read(copy, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(scratch)}},
        allow_errors=False,
    )
    error = None
    try:
        client.execute(env=_kernel_env(tmpdir))
    except CellExecutionError as err:
        error = ANSI_ESCAPE.sub("", str(err))
    if error:
        pytest.fail(f"{notebook.name} fails when run from {scratch}:\n{error}", pytrace=False)

    problems = []
    leftovers = sorted(p.name for p in scratch.iterdir() if p != copy and p.name not in EXPECTED_LEFTOVERS)
    if leftovers:
        problems.append(f"leaves files in the folder it runs from: {leftovers}")
    in_tmp = sorted(p.name for p in tmpdir.iterdir())
    if in_tmp:
        problems.append(f"leaves temporary files behind (in its TMPDIR): {in_tmp}")
    new_global = sorted(p.name for p in set(global_tmp.glob(TMP_LEFTOVER_GLOB)) - before)
    if new_global:
        problems.append(f"leaves {global_tmp}/{TMP_LEFTOVER_GLOB} behind: {new_global}")
    if problems:
        pytest.fail(f"{notebook.name}: " + "; ".join(problems), pytrace=False)
