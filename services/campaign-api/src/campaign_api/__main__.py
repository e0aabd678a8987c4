import asyncio

import typer

from campaign_api import db
from campaign_api.app import build
from campaign_api.domain import hash_api_key, new_api_key
from campaign_api.settings import Settings
from servicekit.cli import service_cli
from servicekit.db import create_engine

app = service_cli("campaign_api", Settings, build)


@app.command("create-key")
def create_key(
    workspace: str = typer.Option("default", help="Workspace name; created if missing"),
    name: str = typer.Option("cli", help="A label for the key"),
) -> None:
    """Create an API key for a workspace and print it (only once: just its hash is stored)."""
    key = new_api_key()

    async def store() -> None:
        engine = create_engine(Settings().database_url, pool_size=1)
        try:
            async with engine.begin() as conn:
                workspace_id = await db.ensure_workspace(conn, workspace)
                await db.add_api_key(conn, workspace_id, hash_api_key(key), name)
        finally:
            await engine.dispose()

    asyncio.run(store())
    typer.echo(key)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
