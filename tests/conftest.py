"""Shared pytest configuration for tests/.

tests/site/ checks the *built* site (a real browser, the downloadable notebooks), so it is
collected only when asked for: name it on the command line (``pytest tests/site``) or set
``IMPLICIT_BIAS_SITE_TESTS=1``. ``pytest src tests`` (run before the book is built) skips it.
"""

import os
from pathlib import Path

_SITE_TESTS = Path(__file__).parent / "site"


def pytest_ignore_collect(collection_path, config):
    if collection_path != _SITE_TESTS or os.environ.get("IMPLICIT_BIAS_SITE_TESTS") == "1":
        return None
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == _SITE_TESTS or _SITE_TESTS in path.parents:
            return None  # asked for explicitly
    return True
