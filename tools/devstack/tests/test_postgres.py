from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from devstack.postgres import EmbeddedPostgres, PostgresError


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def test_database_with_vector_survives_a_restart(short_tmp: Path) -> None:
    # A parent that does not exist yet: it is created traversable for the server's user.
    postgres = EmbeddedPostgres(short_tmp / "data" / "pg")
    with postgres:
        assert (short_tmp / "data").stat().st_mode & 0o777 == 0o755
        postgres.ensure_database("mailer")
        postgres.ensure_database("mailer")  # idempotent
        url = postgres.uri("mailer")
        assert url == f"postgresql+asyncpg://postgres@/mailer?host={postgres.socket_dir}"

        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            assert await conn.fetchval("SELECT current_database()") == "mailer"
            assert await conn.fetchval(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            )
            await conn.execute("CREATE TABLE docs (id int PRIMARY KEY, embedding vector(3))")
            await conn.execute("INSERT INTO docs VALUES (1, '[1,0,0]'), (2, '[0,1,0]')")
        finally:
            await conn.close()
    pid_file = postgres.data_dir / "postmaster.pid"
    assert not pid_file.exists(), "stop() must leave no server running"
    with pytest.raises(PostgresError, match="not started"):
        postgres.uri("mailer")

    with EmbeddedPostgres(short_tmp / "data" / "pg") as again:
        conn = await asyncpg.connect(asyncpg_dsn(again.uri("mailer")))
        try:
            nearest = await conn.fetchval(
                "SELECT id FROM docs ORDER BY embedding <-> '[0.9,0.1,0]'"
            )
            assert nearest == 1
        finally:
            await conn.close()


async def test_url_works_with_sqlalchemy(short_tmp: Path) -> None:
    pytest.importorskip("greenlet")  # the services install sqlalchemy[asyncio]; devstack does not
    sqlalchemy_asyncio = pytest.importorskip("sqlalchemy.ext.asyncio")
    import sqlalchemy

    # The data folder may also be an existing, empty one.
    with EmbeddedPostgres(short_tmp) as postgres:
        postgres.ensure_database("campaign_api")
        engine = sqlalchemy_asyncio.create_async_engine(postgres.uri("campaign_api"))
        try:
            async with engine.connect() as conn:
                result = await conn.execute(sqlalchemy.text("SELECT current_database()"))
                assert result.scalar_one() == "campaign_api"
        finally:
            await engine.dispose()


async def test_an_immediate_shutdown_loses_no_committed_data(short_tmp: Path) -> None:
    postgres = EmbeddedPostgres(short_tmp / "pg")
    with postgres:
        postgres.ensure_database("mailer")
        url = asyncpg_dsn(postgres.uri("mailer"))
        conn = await asyncpg.connect(url)
        await conn.execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
        postgres.stop(immediate=True)
        with pytest.raises((asyncpg.PostgresError, OSError)):
            await conn.fetchval("SELECT 1")
        await conn.close(timeout=1)
        postgres.start()
        assert asyncpg_dsn(postgres.uri("mailer")) == url  # the same socket: clients reconnect
        again = await asyncpg.connect(url)
        try:
            assert await again.fetchval("SELECT count(*) FROM t") == 1
        finally:
            await again.close()
