"""The engine the reads and claims around a model's call go through."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def create_reader(url: str, *, pool_size: int) -> AsyncEngine:
    """The engine for the reads and claims around a model's call, outside any unit of work.
    Autocommit: no BEGIN/ROLLBACK round trips. No pre-ping: with asyncpg it costs three round
    trips per checkout (a connection found dead fails its statement, is replaced, and the
    event is retried). No overflow: a burst of emails waits for a pooled connection rather
    than opening and closing extra ones, each costing a connect, type introspection and the
    preparation of every statement."""
    return create_async_engine(url, pool_size=pool_size, max_overflow=0,
                               isolation_level="AUTOCOMMIT")
