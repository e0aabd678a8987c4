"""Signal handling shared by the command-line entry points."""

from __future__ import annotations

import signal
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def interrupt_on_sigterm() -> None:
    """Make SIGTERM behave like Ctrl-C, so both take the same clean shutdown path."""
    signal.signal(signal.SIGTERM, _interrupt)


def ignore_interrupts() -> None:
    """Ignore Ctrl-C and SIGTERM, so a shutdown in progress is not cut short half-way."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
