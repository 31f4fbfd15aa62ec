"""Ctrl-C: the first SIGINT asks the loop to stop after the current step; the error it ends with."""

from __future__ import annotations

import signal
import threading


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C: ``checkpoint_step`` is the step ``checkpoint.pt`` holds (``None``: none written).

    A ``KeyboardInterrupt``, so that ``except Exception`` does not swallow it.
    """

    def __init__(self, message, checkpoint_step: int | None):
        super().__init__(message)
        self.checkpoint_step = checkpoint_step


class StopRequest:
    """While active, the first SIGINT only sets a flag (the loop stops after the current step);
    a second one interrupts at once.  Only the main thread can install signal handlers."""

    def __init__(self):
        self.requested, self._previous = False, None

    def _handle(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False
