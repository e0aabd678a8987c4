"""The campaign-api service: `migrate`, `run`, and workspace and key administration."""

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote

import typer
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import usecases
from campaign_api.app import build
from campaign_api.settings import Settings
from servicekit.cli import service_cli
from servicekit.db import create_engine

app = service_cli("campaign_api", Settings, build)

T = TypeVar("T")

# `make up` writes where its database is into this file (relative to where it runs), so that
# these commands, run beside it, need no configuration; the environment still wins.
DEVELOPMENT_STACK_ENV = Path(".data") / "campaign-api.env"


def _fail(message: str) -> typer.Exit:
    """One line on stderr and exit code 1: what went wrong, never a traceback."""
    typer.echo(f"campaign-api: {' '.join(message.split())}", err=True)
    return typer.Exit(1)


def _settings() -> Settings:
    stack_file = DEVELOPMENT_STACK_ENV
    stack = stack_file if stack_file.is_file() else None
    try:
        return Settings(_env_file=stack)
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        hint = "" if stack else f" (or run it where `make up` runs: it writes {stack_file})"
        raise _fail(f"{reasons}{hint}") from None


def _with_engine(work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    settings = _settings()

    async def run() -> T:
        engine = create_engine(settings.database_url, pool_size=1)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    where = unquote(settings.database_url.rsplit("@", 1)[-1])  # no credentials in the message
    try:
        return asyncio.run(run())
    except ProgrammingError as exc:  # e.g. no such table: the database was never migrated
        raise _fail(f"the database at {where} is not ready ({exc.orig}): "
                    "run `campaign-api migrate` first") from None
    except (OSError, DBAPIError) as exc:
        running = " Is `make up` running?" if DEVELOPMENT_STACK_ENV.is_file() else ""
        raise _fail(f"cannot reach the database at {where}: "
                    f"{getattr(exc, 'orig', None) or exc}.{running}") from None


@app.command("create-workspace")
def create_workspace(name: str = typer.Argument(help="The workspace's name")) -> None:
    """Create a workspace (or find it, if the name exists) and print its id."""
    workspace = _with_engine(lambda engine: usecases.create_workspace(engine, name))
    typer.echo(str(workspace.id))


@app.command("create-key")
def create_key(
    workspace: str = typer.Option("default", help="Workspace name; created if missing"),
    name: str = typer.Option("cli", help="A label for the key"),
) -> None:
    """Create an API key for a workspace and print it (only once: just its hash is stored).
    Beside a running `make up`, it finds the development stack's database by itself."""

    async def store(engine: AsyncEngine) -> str:
        found = await usecases.create_workspace(engine, workspace)
        return (await usecases.create_api_key(engine, found.id, name)).key

    typer.echo(_with_engine(store))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
