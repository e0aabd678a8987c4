"""Composition root: the provider that writes emails, and the handlers that use it."""

from __future__ import annotations

from functools import partial

import httpx
import structlog

from content_generator import db, handlers
from content_generator.providers import EmailProvider, OfflineProvider, OpenRouterProvider
from content_generator.settings import Settings
from contracts import (
    CampaignCancelled,
    CampaignCompleted,
    CampaignCreated,
    CampaignPaused,
    CampaignResumed,
    CampaignUpdated,
    EmailDue,
)
from servicekit.consumer import Handlers
from servicekit.runtime import Runtime, ServiceParts

log = structlog.get_logger(__name__)


def provider_for(settings: Settings) -> tuple[EmailProvider, httpx.AsyncClient | None]:
    """OpenRouter when an API key is set, else offline templates; plus the client to close."""
    if settings.openrouter_api_key is None:
        log.warning("content.offline_provider",
                    hint="OPENROUTER_API_KEY is unset: emails are offline template drafts")
        return OfflineProvider(), None
    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=settings.max_concurrent_calls),
    )
    provider = OpenRouterProvider(
        client,
        api_key=settings.openrouter_api_key.get_secret_value(),
        base_url=settings.base_url,
        timeout=settings.openrouter_timeout_seconds,
        app_url=settings.openrouter_app_url,
        app_title=settings.openrouter_app_title,
        max_tokens=settings.max_output_tokens,
        retry=settings.retry,
    )
    return provider, client


def handler_table(
    provider: EmailProvider, call_log: db.CallLog, *, previous_limit: int = 10
) -> Handlers:
    table = Handlers()
    table.on(CampaignCreated)(handlers.on_campaign_defined)
    table.on(CampaignUpdated)(handlers.on_campaign_defined)
    table.on(CampaignPaused)(handlers.on_paused)
    table.on(CampaignResumed)(handlers.on_resumed)
    table.on(CampaignCancelled)(handlers.on_cancelled)
    table.on(CampaignCompleted)(handlers.on_completed)
    table.on(EmailDue)(partial(
        handlers.on_email_due, provider=provider, call_log=call_log,
        previous_limit=previous_limit,
    ))
    return table


async def build(runtime: Runtime) -> ServiceParts:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    provider, client = provider_for(settings)
    table = handler_table(provider, db.CallLog(runtime.engine),
                          previous_limit=settings.previous_emails_in_prompt)
    return ServiceParts(
        handlers=table,
        # Several emails are written at once; campaign events stay in order (default 1).
        concurrency={"SCHEDULE": settings.max_concurrent_calls},
        on_stop=[client.aclose] if client else [],
    )
