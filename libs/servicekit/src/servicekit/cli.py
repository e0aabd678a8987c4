"""The command line every service shares: `python -m <service> migrate | run`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import typer

from servicekit import migrations
from servicekit.runtime import Build, serve
from servicekit.settings import ServiceSettings


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
        asyncio.run(serve(settings(), build, package=package))

    return app
