"""The campaign-api service: `migrate`, `run`, and workspace and key administration."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import usecases
from campaign_api.app import build
from campaign_api.settings import Settings
from servicekit.cli import service_cli
from servicekit.db import create_engine

app = service_cli("campaign_api", Settings, build)

T = TypeVar("T")


def _with_engine(work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = create_engine(Settings().database_url, pool_size=1)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


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
    """Create an API key for a workspace and print it (only once: just its hash is stored)."""

    async def store(engine: AsyncEngine) -> str:
        found = await usecases.create_workspace(engine, workspace)
        return (await usecases.create_api_key(engine, found.id, name)).key

    typer.echo(_with_engine(store))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
