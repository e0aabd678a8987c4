"""The command line every service shares: `python -m <service> migrate | run`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import typer
import uvloop

from servicekit import migrations
from servicekit.runtime import Build, serve
from servicekit.settings import ServiceSettings

T = TypeVar("T")


def run_on_uvloop(main: Coroutine[Any, Any, T]) -> T:
    """Runs a service process's main coroutine. A service is mostly event-loop and socket work
    (PostgreSQL, NATS, HTTP, SMTP), which uvloop does with less CPU than asyncio's own loop."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def service_cli(
    package: str, settings: Callable[[], ServiceSettings], build: Build
) -> typer.Typer:
    app = typer.Typer(add_completion=False, no_args_is_help=True, help=f"The {package} service.")

    @app.command()
    def migrate() -> None:
        """Bring the service's database to the latest schema."""
        migrations.upgrade(package, settings().database_url)

    @app.command()
    def run() -> None:
        """Run the service until SIGTERM."""
        run_on_uvloop(serve(settings(), build, package=package))

    return app
