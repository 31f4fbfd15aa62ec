"""Provenance: which code, which machine, which seed produced a page or a result file.

The book calls :func:`header` in the first cell of every chapter, and result writers store
:func:`provenance` next to their numbers, so a reader can always tell what produced a figure.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import __version__

_PACKAGE_DIR = Path(__file__).resolve().parent


@functools.cache
def source_hash() -> str:
    """SHA-256 (first 12 hex digits) of every ``.py`` file of the installed package.

    Read once per process, at the first call: a long job (a sweep, a notebook kernel) runs the
    code it imported, not what is on disk after later edits.
    """
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@functools.cache
def git_commit() -> str:
    """The git commit of the checkout holding the package (``"unknown"`` outside git),
    with ``+dirty`` when the work tree has uncommitted changes; read once per process, like
    :func:`source_hash`."""
    try:
        root = _PACKAGE_DIR
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict:
    """A short description of the machine: OS, CPU count, Python, NumPy and (if present) torch."""
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["cuda_device"] = torch.cuda.get_device_name(0)
    except ImportError:  # torch is a dependency, but the numpy core does not need it
        pass
    return info


def provenance(config: dict | None = None, seed: int | None = None) -> dict:
    """Everything needed to reproduce a saved result: configuration, seed, code version, machine."""
    return {
        "package_version": __version__,
        "source_hash": source_hash(),
        "git_commit": git_commit(),
        "seed": seed,
        "config": config or {},
        "machine": machine(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def header(seed: int | None = None) -> None:
    """Print the provenance line that opens every chapter of the book.

    Versions are read from package metadata, so a chapter that never uses torch does not pay
    for importing it.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        torch_version = f" | torch {version('torch')}"
    except PackageNotFoundError:
        torch_version = ""
    print(f"implicit_bias {__version__} | source {source_hash()} | git {git_commit()[:12]} | "
          f"seed {seed} | python {sys.version.split()[0]} | numpy {np.__version__}{torch_version}")
