"""The hand-written migration builds exactly the tables the code queries."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from mailer.db import metadata
from servicekit.db import metadata as messaging_metadata


async def test_migration_matches_the_table_definitions(engine: AsyncEngine) -> None:
    expected = sa.MetaData()
    for table in (*metadata.tables.values(), *messaging_metadata.tables.values()):
        table.to_metadata(expected)

    def differences(conn: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(conn), expected))

    async with engine.connect() as conn:
        assert await conn.run_sync(differences) == []
