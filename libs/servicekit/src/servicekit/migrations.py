"""Alembic, driven from code: each service keeps its migrations in `<package>/migrations`."""

from __future__ import annotations

import asyncio
import functools
from importlib.resources import files
from typing import Any

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from servicekit import db


def alembic_config(package: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files(package) / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(package: str, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(package, database_url), revision)


@functools.cache
def heads(package: str) -> frozenset[str]:
    """The revisions the package's code expects its database to be at."""
    return frozenset(ScriptDirectory.from_config(alembic_config(package, "")).get_heads())


def run_env(target_metadata: sa.MetaData) -> None:
    """Body of every service's migrations/env.py: online, async, one transaction."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None

    def migrate(conn: Connection) -> None:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            await conn.run_sync(migrate)
            await conn.commit()
        await engine.dispose()

    asyncio.run(main())


# `op` is alembic's proxy module inside a migration; it forwards to an `Operations`.
def create_messaging_tables(op: Any) -> None:
    """The outbox, inbox and parked tables, as `servicekit.db` defines them."""
    bind = op.get_bind()
    for table in (db.outbox, db.inbox, db.parked_events):
        table.create(bind)


def drop_messaging_tables(op: Any) -> None:
    bind = op.get_bind()
    for table in (db.parked_events, db.inbox, db.outbox):
        table.drop(bind)
