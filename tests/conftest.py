"""Fixtures shared by the test modules (pytest loads this file before them; with
``--import-mode=importlib`` the modules cannot import it, so what they share are fixtures).

tests/site/ checks the *built* site (a real browser, the downloadable notebooks), so it is
collected only when asked for: name it on the command line (``pytest tests/site``) or set
``IMPLICIT_BIAS_SITE_TESTS=1``; ``pytest src tests`` (run before the book is built) skips it.

The PTB tests share two fixtures: ``ptb_dir`` (the data directory ``$PTB_DIR``, or a skip that
says how to provide it; a module whose every test needs the data says
``pytestmark = pytest.mark.usefixtures("ptb_dir")``) and ``tiny_config`` (a factory of the tiny
TrainConfig that makes each run take about a second: ``tiny_config(steps=3, optimizer="lion")``).

``chromium_executable`` is the browser of the site test and of ``test_interactive.py``:
``$CHROMIUM``, the system's Chromium, or playwright's own; without one the test fails and says
how to get one, unless ``IMPLICIT_BIAS_SKIP_BROWSER=1`` skips it on purpose.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

_SITE_TESTS = Path(__file__).parent / "site"


def pytest_ignore_collect(collection_path, config):
    """Skip tests/site unless it (or a file in it) is named on the command line."""
    if collection_path != _SITE_TESTS or os.environ.get("IMPLICIT_BIAS_SITE_TESTS") == "1":
        return None
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == _SITE_TESTS or _SITE_TESTS in path.parents:
            return None  # asked for explicitly
    return True


def random_quadratic(seed: int = 0, dim: int = 5):
    """A random strongly convex quadratic: ``(hessian, center, grad_fn)`` with
    grad_fn(x) = hessian (x - center), hessian = M M^T / d + 0.1 I."""
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(dim, dim))
    hessian, center = m @ m.T / dim + 0.1 * np.eye(dim), 2.0 * rng.normal(size=dim)
    return hessian, center, (lambda x: hessian @ (x - center))


@pytest.fixture
def quadratic():
    """The factory :func:`random_quadratic`, as a fixture."""
    return random_quadratic


PTB_SKIP_REASON = ("PTB data not available: "
                   "set PTB_DIR to a directory with ptb.{train,valid,test}.txt")


@pytest.fixture(scope="session")
def ptb_dir() -> Path:
    """The PTB directory ``$PTB_DIR``; the test is skipped (with how to fix it) when it is unset or
    holds no ptb.train.txt.  Only ``$PTB_DIR`` counts: the tests never download the data."""
    directory = os.environ.get("PTB_DIR")
    if not (directory and (Path(directory) / "ptb.train.txt").is_file()):
        pytest.skip(PTB_SKIP_REASON)
    return Path(directory)


#: the tiny PTB run: 11 chunks of 35 tokens, micro-batches of 4 chunks (so gradient accumulation
#: is exercised), a 2-layer width-16 model, 6 steps, a checkpoint and an evaluation every 2
TINY_SETTINGS = dict(name="tiny", train_tokens=400, valid_tokens=200, d_model=16, n_heads=2,
                     d_ff=16, n_layers=2, lr=1e-2, beta1=0.9, beta2=0.95, weight_decay=1.0,
                     steps=6, micro_batch=4, loss_chunk_rows=50, threads=1, eval_every=2,
                     checkpoint_every=2, tensor_log_every=1)


def make_tiny_config(**overrides):
    """The tiny :class:`~implicit_bias.ptb.configs.TrainConfig`, with ``overrides`` applied."""
    from implicit_bias.ptb.configs import TrainConfig

    return TrainConfig(**{**TINY_SETTINGS, **overrides})


@pytest.fixture(scope="session")
def tiny_config():
    """The factory :func:`make_tiny_config`, as a fixture (session-scoped, so that module-scoped
    fixtures can use it)."""
    return make_tiny_config


@pytest.fixture(scope="session")
def tiny_corpus(ptb_dir, tiny_config):
    """The tiny configuration's corpus (11 chunks of 35 tokens), loaded once per session."""
    from implicit_bias.ptb.data import load_corpus

    tiny = tiny_config()
    return load_corpus(ptb_dir, train_tokens=tiny.train_tokens, valid_tokens=tiny.valid_tokens)


# Debian's package first (`apt-get install chromium`), then other common system names.
SYSTEM_CHROMIUMS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")

HOW_TO_GET_A_BROWSER = (
    "No Chromium found for the browser test. Install one: as root on Debian/Ubuntu "
    "`scripts/install_system_deps.sh browser` (apt-get install chromium), or, with internet, "
    "`.venv/bin/python -m playwright install chromium`; or point CHROMIUM at an executable. "
    "To skip this test on purpose set IMPLICIT_BIAS_SKIP_BROWSER=1."
)


def find_chromium() -> str | None:
    """CHROMIUM, else the system's Chromium, else the one `playwright install chromium` fetched."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if shutil.which(explicit) or Path(explicit).is_file() else None
    for candidate in SYSTEM_CHROMIUMS:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    with sync_playwright() as p:
        path = p.chromium.executable_path
    return path if path and Path(path).is_file() else None


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    if os.environ.get("IMPLICIT_BIAS_SKIP_BROWSER") == "1":
        pytest.skip("IMPLICIT_BIAS_SKIP_BROWSER=1: browser test skipped on request")
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.fail("playwright is not installed: `pip install -r requirements.txt` (it is pinned there)", pytrace=False)
    path = find_chromium()
    if path is None:
        explicit = os.environ.get("CHROMIUM")
        prefix = f"CHROMIUM={explicit} is not an executable. " if explicit else ""
        pytest.fail(prefix + HOW_TO_GET_A_BROWSER, pytrace=False)
    return path
