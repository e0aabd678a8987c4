"""The whole system for end-to-end tests, started the way `make up` starts it: embedded NATS,
PostgreSQL and SMTP sink, the four services as processes, and a fake OpenRouter as the LLM."""

from __future__ import annotations

import asyncio
import mailbox
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from rich.console import Console
from sqlalchemy.ext.asyncio import create_async_engine

from devstack.ports import free_port
from devstack.stack import Stack, StackConfig
from servicekit.settings import asyncpg_dsn
from testkit.fake_openrouter import FakeOpenRouter
from testkit.fixtures import scratch_dir
from testkit.holders import columns_holding

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


def maildir_count(maildir: Path) -> int:
    """How many messages the sink has stored: a directory listing, cheap enough to poll while
    ten thousand arrive."""
    return sum(1 for _ in (maildir / "new").iterdir())


def maildir_headers(maildir: Path) -> list[tuple[float, EmailMessage]]:
    """(when it was stored, its headers) of every message, without parsing the bodies."""
    parser = BytesHeaderParser(policy=policy.default)
    found = []
    for path in (maildir / "new").iterdir():
        with path.open("rb") as file:
            headers = parser.parse(file)
        assert isinstance(headers, EmailMessage)
        found.append((path.stat().st_mtime, headers))
    return found


def query(stack: Stack, module: str, sql: str, *args: object) -> list[dict[str, Any]]:
    """The rows of one query on a service's database, for a test that reads what a service
    decided (a due time, a recorded reason) where no API shows it."""

    async def fetch() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(asyncpg_dsn(stack.database_url(module)))
        try:
            return [dict(row) for row in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def databases_holding(stack: Stack, needle: str) -> dict[str, list[str]]:
    """Every service's "table.column"s with a value containing `needle` (letters compared
    case-insensitively), by service; empty when no database of the stack holds it. Each
    database is searched column by column (`testkit.holders.columns_holding`)."""

    async def search() -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for module, url in stack.endpoints.database_urls.items():
            engine = create_async_engine(url)
            try:
                async with engine.connect() as conn:
                    if columns := await columns_holding(conn, needle):
                        found[module] = columns
            finally:
                await engine.dispose()
        return found

    return asyncio.run(search())


def wait_for(what: str, probe: Callable[[], T], timeout: float = 60) -> T:
    """Poll `probe` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.25)
    return found
