"""The faults a scenario injects into a running system, each of which also brings it back.

The stack never restarts a part by itself, so every fault here ends with the part running
again: a killed or stopped service is started again, NATS and PostgreSQL too, a paused NATS is
resumed, and the LLM's and the SMTP sink's faults are switched off.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from devstack.smtp_sink import SinkFault
from devstack.stack import Stack, StackError
from testkit.fake_openrouter import (
    Disconnect,
    Empty,
    Error,
    ErrorInBody,
    FakeOpenRouter,
    Hang,
    Malformed,
    ScriptItem,
    Truncated,
)

MAILER = "mailer"
_Part = TypeVar("_Part")


@dataclass(frozen=True)
class Target:
    """What the faults act on."""

    stack: Stack
    llm: FakeOpenRouter


@dataclass(frozen=True)
class Injected:
    """What one application of a fault did."""

    faults: int
    # Crashes that may leave the mailer in doubt about sends it made (see `rules`): of its
    # `run` process, and of its database (how long each kept it away, in seconds); and when
    # each began and ended (seconds since the epoch: a database is down a while).
    mailer_kills: int = 0
    database_outages: tuple[float, ...] = ()
    crashes: tuple[tuple[float, float], ...] = ()
    # Orderly stops that did not end within the stack's stop timeout and had to be killed.
    forced: int = 0
    # When the system was whole again (seconds since the epoch).
    ended_at: float = 0.0


Fault = Callable[[Target], Injected]


def _done(*, faults: int = 1, mailer_kills: int = 0, database_outages: tuple[float, ...] = (),
          crash: tuple[float, float] | None = None, forced: int = 0) -> Injected:
    return Injected(faults=faults, mailer_kills=mailer_kills, database_outages=database_outages,
                    crashes=() if crash is None else (crash,), forced=forced,
                    ended_at=time.time())


def sigkill(module: str) -> Fault:
    def inject(target: Target) -> Injected:
        at = time.time()
        target.stack.kill_service(module)
        target.stack.restart_service(module)
        if module == MAILER:
            return _done(mailer_kills=1, crash=(at, at))
        return _done()

    return inject


def sigterm(module: str) -> Fault:
    def inject(target: Target) -> Injected:
        stopped = target.stack.stop_service(module)
        at = time.time()
        target.stack.restart_service(module)
        if stopped:
            return _done()
        # A stop that had to be forced is a kill (the target still fails).
        if module == MAILER:
            return _done(forced=1, mailer_kills=1, crash=(at, at))
        return _done(forced=1)

    return inject


def nats_kill(target: Target) -> Injected:
    server = _embedded(target.stack.nats, "NATS")
    server.kill()
    server.start()
    return _done()


def nats_pause(seconds: float) -> Fault:
    def inject(target: Target) -> Injected:
        server = _embedded(target.stack.nats, "NATS")
        server.pause()
        try:
            time.sleep(seconds)  # the fault itself: how long the server stays frozen
        finally:
            server.resume()
        return _done()

    return inject


def postgres_immediate(target: Target) -> Injected:
    server = _embedded(target.stack.postgres, "PostgreSQL")
    at = time.time()
    server.stop(immediate=True)
    server.start()
    back = time.time()
    return _done(database_outages=(back - at,), crash=(at, back))


def llm_faults(items: tuple[ScriptItem, ...], timeout: float) -> Fault:
    """Queue `items` for the next chat attempts and wait until they have all been answered (or
    `timeout` passes: what is left is withdrawn and not counted)."""

    def inject(target: Target) -> Injected:
        target.llm.script(*items)
        deadline = time.monotonic() + timeout
        while target.llm.pending() and time.monotonic() < deadline:
            time.sleep(0.1)
        left = target.llm.pending()
        if left:
            target.llm.reset()
        return _done(faults=len(items) - left)

    return inject


def every_llm_fault(timeout_seconds: float) -> tuple[ScriptItem, ...]:
    """One of each: rate limited, server errors, a call that outlives the client's timeout,
    garbage of every shape, and a dropped connection."""
    return (Error(429, retry_after=1), Error(500), Error(502), Error(503),
            Hang(seconds=timeout_seconds + 5), Malformed(), ErrorInBody(), Truncated(), Empty(),
            Disconnect())


def smtp_faults(seconds: float, every: int) -> Fault:
    """`seconds` of 421 at RCPT, then `seconds` of connections dropped after the data."""

    def inject(target: Target) -> Injected:
        sink = _embedded(target.stack.smtp_sink, "SMTP sink")
        before = sink.faults_injected
        try:
            for kind in ("421", "drop"):
                sink.set_fault(SinkFault(kind, every=every))
                time.sleep(seconds)  # the fault itself: how long it stays on
        finally:
            sink.set_fault(None)
        return _done(faults=sink.faults_injected - before)

    return inject


def _embedded(part: _Part | None, name: str) -> _Part:
    if part is None:
        raise StackError(f"the stack runs no embedded {name} to inject faults into")
    return part
