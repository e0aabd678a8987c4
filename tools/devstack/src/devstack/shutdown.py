"""Signal handling shared by the command-line entry points."""

from __future__ import annotations

import signal
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def interrupt_on_signals() -> None:
    """Make Ctrl-C and SIGTERM both raise KeyboardInterrupt, so they take the same clean
    shutdown path; also when started with SIGINT ignored, as shells start background jobs."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def ignore_signals() -> None:
    """Ignore Ctrl-C and SIGTERM, so a shutdown in progress is not cut short half-way."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
