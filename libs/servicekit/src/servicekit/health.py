"""/healthz, /readyz and /metrics for every service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from nats.aio.client import Client
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from servicekit import migrations

ReadinessCheck = Callable[[], Awaitable[str | None]]


def database_check(engine: AsyncEngine) -> ReadinessCheck:
    async def check() -> str | None:
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except Exception as exc:
            return f"database: {exc.__class__.__name__}"
        return None

    return check


def nats_check(nc: Client) -> ReadinessCheck:
    async def check() -> str | None:
        return None if nc.is_connected else "nats: not connected"

    return check


def migrations_check(engine: AsyncEngine, package: str) -> ReadinessCheck:
    """Ready only when the database is at the revisions the package's migrations end in:
    code that expects a newer schema must not take traffic before `migrate` has run."""

    async def check() -> str | None:
        try:
            expected = migrations.heads(package)
        except Exception as exc:
            return f"migrations: cannot read {package}'s migrations ({exc.__class__.__name__})"
        try:
            async with engine.connect() as conn:
                found = set(
                    (await conn.scalars(sa.text("SELECT version_num FROM alembic_version"))).all()
                )
        except sa.exc.ProgrammingError:  # no alembic_version table: never migrated
            return "migrations: not applied"
        except Exception as exc:
            return f"migrations: {exc.__class__.__name__}"
        if found != expected:
            return f"migrations: database at {sorted(found)}, code expects {sorted(expected)}"
        return None

    return check


def health_routes(checks: list[ReadinessCheck]) -> list[Route]:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        problems = [p for p in [await c() for c in checks] if p]
        if problems:
            return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]


def health_app(checks: list[ReadinessCheck]) -> Starlette:
    return Starlette(routes=health_routes(checks))
