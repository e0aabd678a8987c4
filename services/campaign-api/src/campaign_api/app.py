"""Composition root: the FastAPI app, its health routes and the read-model projections."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import campaigns, errors, handlers
from contracts import CampaignCompleted, ContentFailed, ContentGenerated, EmailFailed, EmailSent
from servicekit.consumer import Handlers
from servicekit.health import ReadinessCheck, database_check, health_routes, nats_check
from servicekit.runtime import Runtime, ServiceParts

_HOME = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Campaign Builder</title></head>
<body style="font-family:system-ui;max-width:40rem;margin:4rem auto">
<h1>Campaign Builder</h1><p>The REST API lives under <code>/api/</code>; its reference is at
<a href="/docs">/docs</a> (OpenAPI: <a href="/openapi.json">/openapi.json</a>).</p></body></html>"""


def create_app(engine: AsyncEngine, checks: list[ReadinessCheck]) -> FastAPI:
    app = FastAPI(
        title="Campaign Builder",
        version="0.1.0",
        description="AI-written email sequences: campaigns, audiences, progress.",
    )
    app.state.engine = engine
    errors.install(app)
    app.include_router(campaigns.router)
    for route in health_routes(checks):
        app.router.routes.append(route)

    @app.get("/", include_in_schema=False)
    async def home() -> HTMLResponse:
        return HTMLResponse(_HOME)

    return app


def projections() -> Handlers:
    table = Handlers()
    table.on(ContentGenerated)(handlers.on_content_generated)
    table.on(ContentFailed)(handlers.on_content_failed)
    table.on(EmailSent)(handlers.on_email_sent)
    table.on(EmailFailed)(handlers.on_email_failed)
    table.on(CampaignCompleted)(handlers.on_campaign_completed)
    return table


async def build(runtime: Runtime) -> ServiceParts:
    app = create_app(runtime.engine, [database_check(runtime.engine), nats_check(runtime.nc)])
    return ServiceParts(handlers=projections(), http_app=app)
