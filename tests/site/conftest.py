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
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

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
