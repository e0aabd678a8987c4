"""Composition root: the FastAPI app, its health routes and the read-model projections."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import dashboard, errors, handlers
from campaign_api.idempotency import Idempotency
from campaign_api.limits import BodySizeLimit
from campaign_api.ratelimit import RateLimiter
from campaign_api.routes import (
    ab_tests,
    audiences,
    campaigns,
    contact_import,
    contacts,
    events,
    fields,
    forms,
    gdpr,
    keys,
    lists,
    preferences,
    segments,
    suppressions,
    tracking,
    workspace_settings,
)
from campaign_api.settings import Settings
from campaign_api.slashes import EitherSlash
from campaign_api.usecases.ab_tests import decider_loop
from campaign_api.usecases.journey_actions import on_journey_action
from campaign_api.usecases.journey_history import on_journey_step_due
from campaign_api.usecases.journey_progress import on_journey_progress
from campaign_api.usecases.performance import summary_loop
from campaign_api.usecases.segments import refresh_loop
from campaign_api.usecases.send_hours import send_hours_loop
from contracts import (
    CampaignCompleted,
    CampaignScheduled,
    ContactErased,
    ContentFailed,
    ContentGenerated,
    EmailFailed,
    EmailSent,
    JourneyActionDue,
    JourneyProgress,
    JourneyStepDue,
)
from servicekit.consumer import Handlers
from servicekit.health import ReadinessCheck, health_routes
from servicekit.runtime import Runtime, ServiceParts
from servicekit.tracing import instrument_asgi


def create_app(engine: AsyncEngine, checks: list[ReadinessCheck], *, nc: Client | None = None,
               settings: Settings | None = None) -> FastAPI:
    """`nc` is needed by the preview only; `settings` default to the built-in limits (tests)."""
    # Defaults without reading the environment: the database is given as `engine` already.
    settings = settings or Settings.model_construct()
    app = FastAPI(
        title="Campaign Builder",
        version="0.2.0",
        description="AI-written email sequences: campaigns, audiences, engagement.",
        redirect_slashes=False,  # EitherSlash serves both spellings instead
    )
    app.state.engine = engine
    app.state.nc = nc
    app.state.settings = settings
    app.state.link_signer = settings.link_signer()
    app.state.erasure = settings.erasure()
    app.state.signup_limiter = RateLimiter(settings.signups_per_minute / 60,
                                           settings.signup_burst)
    app.state.rate_limiter = RateLimiter(settings.rate_per_second, settings.rate_burst)
    app.state.auth_failures = RateLimiter(settings.auth_failures_per_minute / 60,
                                          settings.auth_failure_burst)
    errors.install(app)
    # Outermost last: the size limit sees the body before the idempotency store buffers it.
    app.add_middleware(Idempotency, engine=engine, max_claims=settings.db_pool_size)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes,
                       max_import_bytes=settings.max_import_bytes)
    app.add_middleware(EitherSlash, routes=app.router.routes)
    # contact_import before contacts: /api/contacts/export is not a contact's id.
    for module in (campaigns, ab_tests, audiences, contact_import, contacts, events, fields,
                   lists, segments, keys, tracking):
        app.include_router(module.router)
    # Consent, suppressions, GDPR and the workspace's settings.
    for router in (forms.router, forms.api, preferences.router, suppressions.router,
                   gdpr.router, workspace_settings.router):
        app.include_router(router)
    dashboard.install(app)
    for route in health_routes(checks):
        app.router.routes.append(route)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/dashboard/", status_code=307)

    instrument_asgi(app)
    return app


def projections() -> Handlers:
    table = Handlers()
    table.on(ContentGenerated)(handlers.on_content_generated)
    table.on(ContentFailed)(handlers.on_content_failed)
    table.on(EmailSent)(handlers.on_email_sent)
    table.on(EmailFailed)(handlers.on_email_failed)
    table.on(CampaignCompleted)(handlers.on_campaign_completed)
    table.on(CampaignScheduled)(handlers.on_campaign_scheduled)
    table.on(ContactErased)(handlers.on_contact_erased)
    table.on(JourneyActionDue)(on_journey_action)
    table.on(JourneyProgress)(on_journey_progress)
    table.on(JourneyStepDue)(on_journey_step_due)
    return table


async def build(runtime: Runtime) -> ServiceParts:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    # The runtime's checks: database, NATS and migrations current.
    app = create_app(runtime.engine, runtime.readiness, nc=runtime.nc, settings=settings)
    refresher = refresh_loop(runtime.engine, runtime.shutdown,
                             interval=settings.segment_refresh_seconds,
                             poll=settings.segment_poll_seconds)
    summaries = summary_loop(runtime.engine, runtime.shutdown,
                             interval=settings.summary_interval_seconds,
                             poll=settings.summary_poll_seconds)
    learner = send_hours_loop(runtime.engine, runtime.shutdown,
                              interval=settings.send_hours_interval_seconds)
    decider = decider_loop(runtime.engine, runtime.shutdown, poll=settings.ab_test_poll_seconds)
    return ServiceParts(handlers=projections(), http_app=app,
                        loops=[refresher, summaries, learner, decider])
