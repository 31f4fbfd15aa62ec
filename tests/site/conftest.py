"""Fixtures for the tests of the built site: where it is, a local server for it, a Chromium.

Environment variables:

``SITE_DIR``
    the built site to test (default: ``_build/html`` of this repository).
``SCREENSHOT_DIR``
    where the browser test writes its screenshots and ``report.json``
    (default: ``_build/screenshots`` of this repository).
``CHROMIUM``
    a Chromium/Chrome executable to use instead of the ones searched for.
``IMPLICIT_BIAS_SKIP_BROWSER=1``
    skip the browser test explicitly (without a browser it otherwise *fails*).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Debian's package first (`apt-get install chromium`), then other common system names.
SYSTEM_CHROMIUMS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")

HOW_TO_GET_A_BROWSER = (
    "No Chromium found for the browser test. Install one: as root on Debian/Ubuntu "
    "`scripts/install_system_deps.sh browser` (apt-get install chromium), or, with internet, "
    "`.venv/bin/python -m playwright install chromium`; or point CHROMIUM at an executable. "
    "To skip this test on purpose set IMPLICIT_BIAS_SKIP_BROWSER=1."
)


@pytest.fixture(scope="session")
def site_dir() -> Path:
    """The built site; fails (does not skip) when it has not been built."""
    path = Path(os.environ.get("SITE_DIR") or REPO / "_build" / "html").resolve()
    if not (path / "index.html").is_file():
        pytest.fail(f"no built site at {path} (no index.html): run `make book` first, or set SITE_DIR")
    return path


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    path = Path(os.environ.get("SCREENSHOT_DIR") or REPO / "_build" / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass


@pytest.fixture(scope="session")
def site_url(site_dir):
    """Serve ``site_dir`` on 127.0.0.1 at a free port; yields the base URL ending in '/'."""
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


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
