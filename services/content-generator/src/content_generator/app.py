"""Composition root: the provider that writes emails, and the handlers that use it."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from content_generator import db, handlers
from content_generator.domain import CircuitBreaker
from content_generator.embeddings import Embedder, HashingEmbedder, OpenRouterEmbedder
from content_generator.handlers import Ports
from content_generator.learning import BanditPolicy
from content_generator.preview import serve_previews
from content_generator.providers import EmailProvider, OfflineProvider, OpenRouterProvider
from content_generator.settings import Settings
from content_generator.writer import MemoryPolicy
from contracts import (
    CampaignCancelled,
    CampaignCompleted,
    CampaignCreated,
    CampaignPaused,
    CampaignResumed,
    CampaignUpdated,
    ContactErased,
    EmailDue,
    EmailPerformance,
    WorkspaceUpdated,
)
from contracts.streams import TOPOLOGY
from servicekit.consumer import Handlers
from servicekit.runtime import Runtime, ServiceParts

log = structlog.get_logger(__name__)


# Connections per HTTP client: see `http_clients`.
CONNECTIONS_PER_CLIENT = 16


def http_clients(settings: Settings) -> list[httpx.AsyncClient]:
    """Enough clients for the calls in flight plus previews and embeddings, each with a small
    pool: httpx's pool does work quadratic in its connection count on every request. Idle
    connections are kept (httpx closes all but 20 by default), so a burst does not reconnect."""
    if settings.openrouter_api_key is None:
        return []
    needed = settings.max_concurrent_calls + 4
    count = -(-needed // CONNECTIONS_PER_CLIENT)
    per_client = -(-needed // count)
    limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
    return [httpx.AsyncClient(limits=limits) for _ in range(count)]


def provider_for(settings: Settings, clients: list[httpx.AsyncClient]) -> EmailProvider:
    """OpenRouter when an API key is set, else offline templates."""
    if settings.openrouter_api_key is None or not clients:
        log.warning("content.offline_provider",
                    hint="OPENROUTER_API_KEY is unset: emails are offline template drafts")
        return OfflineProvider()
    return OpenRouterProvider(
        clients,
        api_key=settings.openrouter_api_key.get_secret_value(),
        base_url=settings.base_url,
        timeout=settings.openrouter_timeout_seconds,
        app_url=settings.openrouter_app_url,
        app_title=settings.openrouter_app_title,
        max_tokens=settings.max_output_tokens,
        retry=settings.retry,
        breaker=CircuitBreaker(settings.breaker_failures,
                               timedelta(seconds=settings.breaker_cooldown_seconds)),
        calls_per_second=settings.model_calls_per_second,
        max_in_flight=settings.max_concurrent_calls,
    )


def embedder_for(settings: Settings, clients: list[httpx.AsyncClient]) -> Embedder:
    """OpenRouter's embeddings when a model is named (and a key set), else the offline one."""
    if settings.embedding_model and settings.openrouter_api_key is not None and clients:
        return OpenRouterEmbedder(
            clients[-1], api_key=settings.openrouter_api_key.get_secret_value(),
            base_url=settings.base_url, model=settings.embedding_model,
            timeout=settings.openrouter_timeout_seconds,
        )
    return HashingEmbedder(settings.offline_embedding_dimensions)


def ports_for(
    settings: Settings, engine: AsyncEngine, clients: list[httpx.AsyncClient],
    database: AsyncEngine,
) -> Ports:
    spec = next(c for c in TOPOLOGY.consumers_of(settings.service_name) if c.stream == "SCHEDULE")
    return Ports(
        provider=provider_for(settings, clients),
        embedder=embedder_for(settings, clients),
        call_log=db.CallLog(engine),
        database=database,
        memory=MemoryPolicy(
            recent=settings.previous_emails_in_prompt,
            similar=settings.similar_emails_in_prompt,
            threshold=settings.similarity_threshold,
            drafts=settings.max_drafts,
            redraft_deadline=settings.redraft_deadline_seconds,
            examples=settings.examples_in_prompt,
            min_delivered=settings.example_min_delivered,
        ),
        bandit=BanditPolicy(
            open_weight=settings.bandit_open_weight,
            prior_strength=settings.bandit_prior_strength,
            explore=settings.bandit_explore,
            reward_window=timedelta(hours=settings.bandit_reward_window_hours),
        ),
        degradation=settings.degradation_policy,
        # The last delivery decides, rather than the broker parking the event; one spare
        # delivery covers those spent waiting for the campaign to arrive.
        max_outages=spec.max_deliver - 1,
        claim_lease=timedelta(seconds=spec.ack_wait_seconds),
    )


def handler_table(ports: Ports) -> Handlers:
    table = Handlers()
    table.on(WorkspaceUpdated)(handlers.on_workspace_updated)
    table.on(CampaignCreated)(handlers.on_campaign_defined)
    table.on(CampaignUpdated)(handlers.on_campaign_defined)
    table.on(CampaignPaused)(handlers.on_paused)
    table.on(CampaignResumed)(handlers.on_resumed)
    table.on(CampaignCancelled)(handlers.on_cancelled)
    table.on(CampaignCompleted)(handlers.on_completed)
    table.on(ContactErased)(handlers.on_contact_erased)
    table.on(EmailPerformance)(partial(handlers.on_email_performance,
                                       window=ports.bandit.reward_window))
    # The model writes outside any transaction (see handlers.prepare_email_due).
    table.outside_transaction(EmailDue)(partial(handlers.prepare_email_due, ports=ports))
    return table


async def build(runtime: Runtime) -> ServiceParts:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    clients = http_clients(settings)
    database = db.create_reader(settings.database_url, pool_size=settings.db_read_pool_size)
    ports = ports_for(settings, runtime.engine, clients, database)
    return ServiceParts(
        handlers=handler_table(ports),
        # Several emails are written at once; campaign events stay in order (default 1).
        concurrency={"SCHEDULE": settings.email_concurrency},
        loops=[serve_previews(runtime.nc, runtime.engine, ports, runtime.shutdown)],
        on_stop=[*(c.aclose for c in clients), database.dispose],
    )
