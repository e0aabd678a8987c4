"""What the stack is told and what it decides: which parts are embedded and what each service is
given. Pure functions (`plan_stack`, `service_environ`), so that they can be tested alone."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from devstack.errors import StackError

API_SERVICE = "campaign_api"
SERVICES: tuple[str, ...] = (API_SERVICE, "scheduler", "content_generator", "mailer")
API_KEY_FILE = "api-key"
# Kept across restarts, so that a restart does not sign everyone out of the dashboard.
SESSION_SECRET_FILE = "session-secret"
# Where the API's database is, for campaign-api's own commands (`campaign-api create-key`) run
# beside a running stack: they read it from this folder.
API_ENV_FILE = "campaign-api.env"
DEFAULT_WORKSPACE = "default"


def env_prefix(module: str) -> str:
    """`content_generator` -> `CONTENT_GENERATOR`: the prefix of a service's own variables."""
    return module.upper()


def display_name(module: str) -> str:
    return module.replace("_", "-")


# Variables the stack decides for each service. They are removed from what a service inherits,
# so that it sees exactly one value: the one computed for it (never, say, another service's
# database URL or the API's PORT).
STACK_VARIABLES: frozenset[str] = frozenset(
    {"NATS_URL", "DATABASE_URL", "SMTP_HOST", "SMTP_PORT", "PORT", "DEV_MAILDIR"}
    | {f"{env_prefix(m)}_DATABASE_URL" for m in SERVICES}
    | {f"{env_prefix(m)}_HTTP_PORT" for m in SERVICES}
)


@dataclass(frozen=True)
class StackPlan:
    """What the environment provides; everything else is embedded."""

    services: tuple[str, ...]
    nats_url: str | None
    database_urls: Mapping[str, str]
    smtp: tuple[str, int] | None

    @property
    def embed_postgres(self) -> bool:
        return any(module not in self.database_urls for module in self.services)


def with_database(url: str, dbname: str) -> str:
    """`url` with its path (the database name) replaced by `dbname`; the query is kept."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{dbname}"))


def plan_stack(environ: Mapping[str, str], services: Sequence[str] = SERVICES) -> StackPlan:
    """Decide which parts to embed from the environment.

    `NATS_URL` replaces the embedded NATS; `<SERVICE>_DATABASE_URL` gives one service its
    database, and `DATABASE_URL` gives every other service a database named after it on that
    server; `SMTP_HOST` (with `SMTP_PORT`, default 25) replaces the sink.
    """
    unknown = sorted(set(services) - set(SERVICES))
    if unknown:
        raise StackError(f"unknown services {unknown}; known: {list(SERVICES)}")
    # Always in the canonical order: the API first, as it creates the API key.
    services = [module for module in SERVICES if module in services]
    shared = environ.get("DATABASE_URL")
    database_urls: dict[str, str] = {}
    for module in services:
        own = environ.get(f"{env_prefix(module)}_DATABASE_URL")
        if own:
            database_urls[module] = own
        elif shared:
            database_urls[module] = with_database(shared, module)
    smtp_host, smtp_port = environ.get("SMTP_HOST"), environ.get("SMTP_PORT")
    if smtp_port and not smtp_host:
        raise StackError("SMTP_PORT is set without SMTP_HOST")
    try:
        smtp = (smtp_host, int(smtp_port or 25)) if smtp_host else None
    except ValueError:
        raise StackError(f"SMTP_PORT is not a port number: {smtp_port!r}") from None
    return StackPlan(
        services=tuple(services),
        nats_url=environ.get("NATS_URL") or None,
        database_urls=database_urls,
        smtp=smtp,
    )


@dataclass(frozen=True)
class Endpoints:
    """Where every part of a started stack is reached."""

    nats_url: str
    database_urls: Mapping[str, str]
    smtp_host: str
    smtp_port: int
    maildir: Path | None
    api_port: int
    http_ports: Mapping[str, int]


def service_environ(
    module: str,
    endpoints: Endpoints,
    *,
    inherited: Mapping[str, str],
    extra: Mapping[str, str],
    stop_grace: float = 20.0,
) -> dict[str, str]:
    """The environment of one service's processes: `inherited` less `STACK_VARIABLES`, then
    the stack's values for this service, then `extra` (which wins)."""
    prefix = env_prefix(module)
    env = {k: v for k, v in inherited.items() if k not in STACK_VARIABLES}
    env |= {
        "NATS_URL": endpoints.nats_url,
        f"{prefix}_DATABASE_URL": endpoints.database_urls[module],
        "SMTP_HOST": endpoints.smtp_host,
        "SMTP_PORT": str(endpoints.smtp_port),
        # Children write into a pipe: unbuffered, their lines are relayed as they happen.
        "PYTHONUNBUFFERED": "1",
        # What the stack waits for before it kills a service that is stopping.
        "SHUTDOWN_GRACE_SECONDS": f"{stop_grace:g}",
    }
    if module == API_SERVICE:
        env["PORT"] = str(endpoints.api_port)
    else:
        env[f"{prefix}_HTTP_PORT"] = str(endpoints.http_ports[module])
    if endpoints.maildir is not None:
        env["DEV_MAILDIR"] = str(endpoints.maildir)
    # Links in mail (unsubscribe, tracking) point at this stack's API unless told otherwise.
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{endpoints.api_port}")
    env |= extra
    return env


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path
    api_port: int = 8000
    # Read for the infrastructure overrides, and inherited by every service.
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # Added to every service's environment last, e.g. OPENROUTER_BASE_URL of a fake.
    extra_env: Mapping[str, str] = field(default_factory=dict)
    services: tuple[str, ...] = SERVICES
    # How long services get to listen on their HTTP port.
    ready_timeout: float = 60.0
    # Each service's SHUTDOWN_GRACE_SECONDS: after SIGTERM it finishes the work in hand (the
    # mailer its SMTP transactions) within this, while NATS, PostgreSQL and the sink still run.
    stop_grace: float = 20.0

    @property
    def stop_timeout(self) -> float:
        """How long a service gets to exit after SIGTERM before it is killed: its grace, then
        the relay's last publishing (up to 10 s), and a margin."""
        return self.stop_grace + 15.0

