"""The hand-written migration builds exactly the schema `db.tables` describes, and can be undone."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from content_generator.db import metadata
from servicekit import db as messaging
from servicekit.migrations import alembic_config


def _differences(conn: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(conn)
    combined = sa.MetaData()
    for table in [*metadata.tables.values(), *messaging.metadata.tables.values()]:
        table.to_metadata(combined)
    return list(compare_metadata(context, combined))


async def test_the_migration_matches_the_tables_the_code_uses(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert await conn.run_sync(_differences) == []
        extensions = await conn.execute(sa.text("SELECT extname FROM pg_extension"))
        assert "vector" in set(extensions.scalars())


async def test_the_migration_can_be_undone_and_redone(engine: AsyncEngine) -> None:
    config = alembic_config("content_generator", engine.url.render_as_string(hide_password=False))
    await asyncio.to_thread(command.downgrade, config, "base")
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
    assert set(tables) <= {"alembic_version"}
    await asyncio.to_thread(command.upgrade, config, "head")
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
    expected = {"campaigns", "generated_emails", "llm_calls", "content_failures", "outbox",
                "workspaces", "generation_outages"}
    assert expected <= set(tables)
