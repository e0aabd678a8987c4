"""The whole system for end-to-end tests, started the way `make up` starts it: embedded NATS,
PostgreSQL and SMTP sink, the four services as processes, and a fake OpenRouter as the LLM."""

from __future__ import annotations

import mailbox
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

import httpx
from rich.console import Console

from devstack.ports import free_port
from devstack.stack import Stack, StackConfig
from testkit.fake_openrouter import FakeOpenRouter
from testkit.fixtures import scratch_dir

T = TypeVar("T")

# Timers short enough that a test sees each step within a second.
FAST_TIMERS = {"SCHEDULER_TICK_SECONDS": "0.2", "MAILER_POLL_INTERVAL": "0.2"}


@contextmanager
def running_system(
    prefix: str,
    llm: FakeOpenRouter,
    *,
    extra_env: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    console: Console | None = None,
) -> Iterator[Stack]:
    """`environ` is what the stack reads for external servers (e.g. a cluster's NATS_URL);
    by default nothing from the test's own environment leaks in. `console` gets the services'
    output (by default the terminal's)."""
    with scratch_dir(prefix) as data:
        config = StackConfig(
            data_dir=data,
            api_port=free_port(),
            environ=environ or {"PATH": "/usr/bin:/bin"},
            extra_env={
                "OPENROUTER_API_KEY": llm.api_key,
                "OPENROUTER_BASE_URL": llm.base_url,
                "LOG_LEVEL": "INFO",
                **FAST_TIMERS,
                **(extra_env or {}),
            },
        )
        with Stack(config, console=console) as stack:
            yield stack


def api_client(stack: Stack, key: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=stack.base_url, timeout=10,
                        headers={"Authorization": f"Bearer {key or stack.api_key}"})


def maildir_messages(maildir: Path) -> list[EmailMessage]:
    """Every message the SMTP sink received, parsed."""
    box = mailbox.Maildir(maildir, create=False)
    found = []
    for key in box.iterkeys():
        message = message_from_bytes(box.get_bytes(key), policy=policy.default)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


def wait_for(what: str, probe: Callable[[], T], timeout: float = 60) -> T:
    """Poll `probe` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.25)
    return found
