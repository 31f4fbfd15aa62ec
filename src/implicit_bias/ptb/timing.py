"""Timing: wall and CPU seconds of a run over its sessions, and the ``timing`` of run.json."""

from __future__ import annotations

import time

import torch

from .devices import device_name


def clock() -> tuple[float, float]:
    """(wall, CPU) clock readings, to measure this session from."""
    return time.perf_counter(), time.process_time()


def elapsed_since(earlier: dict, started: tuple[float, float]) -> dict:
    """Wall and CPU seconds, and sessions, of the earlier sessions plus this one (since
    ``started``)."""
    t0, c0 = started
    return dict(wall=earlier["wall"] + time.perf_counter() - t0,
                cpu=earlier["cpu"] + time.process_time() - c0,
                sessions=earlier["sessions"] + 1)


def timing_summary(elapsed: dict, world: int, device: torch.device) -> dict:
    """The ``timing`` of run.json, from :func:`elapsed_since`'s ``elapsed``."""
    return dict(wall_time_s=elapsed["wall"], cpu_time_s=elapsed["cpu"],
                world_size=world, device=str(device),
                resumed=elapsed["sessions"] > 1, sessions=elapsed["sessions"],
                device_name=device_name(device))
