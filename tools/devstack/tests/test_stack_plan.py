"""The pure part of the orchestrator: what is embedded and what each service is given."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from devstack.config import (
    SERVICES,
    STACK_VARIABLES,
    Endpoints,
    StackError,
    plan_stack,
    service_environ,
    with_database,
)

ENDPOINTS = Endpoints(
    nats_url="nats://127.0.0.1:4333",
    database_urls={m: f"postgresql+asyncpg://postgres@/{m}?host=/tmp/s" for m in SERVICES},
    smtp_host="127.0.0.1",
    smtp_port=2525,
    maildir=Path("/data/maildir"),
    api_port=8000,
    http_ports={"scheduler": 9001, "content_generator": 9002, "mailer": 9003},
)


def test_empty_environment_embeds_everything() -> None:
    plan = plan_stack({})
    assert plan.services == SERVICES
    assert plan.nats_url is None
    assert plan.database_urls == {}
    assert plan.embed_postgres
    assert plan.smtp is None


def test_real_infrastructure_replaces_the_embedded_parts() -> None:
    plan = plan_stack(
        {
            "NATS_URL": "nats://nats:4222",
            "DATABASE_URL": "postgresql+asyncpg://u:p@db:5432/ignored?ssl=require",
            "MAILER_DATABASE_URL": "postgresql+asyncpg://m@mail-db/mail",
            "SMTP_HOST": "smtp.example.com",
            "SMTP_PORT": "587",
        }
    )
    assert plan.nats_url == "nats://nats:4222"
    assert plan.database_urls == {
        "campaign_api": "postgresql+asyncpg://u:p@db:5432/campaign_api?ssl=require",
        "scheduler": "postgresql+asyncpg://u:p@db:5432/scheduler?ssl=require",
        "content_generator": "postgresql+asyncpg://u:p@db:5432/content_generator?ssl=require",
        "mailer": "postgresql+asyncpg://m@mail-db/mail",
    }
    assert not plan.embed_postgres
    assert plan.smtp == ("smtp.example.com", 587)


def test_postgres_is_embedded_while_one_service_lacks_a_database() -> None:
    environ = {f"{m.upper()}_DATABASE_URL": f"postgresql+asyncpg://h/{m}" for m in SERVICES[:3]}
    assert plan_stack(environ).embed_postgres
    assert not plan_stack(environ, SERVICES[:3]).embed_postgres


def test_smtp_port_defaults_to_25() -> None:
    assert plan_stack({"SMTP_HOST": "relay"}).smtp == ("relay", 25)


@pytest.mark.parametrize(
    ("environ", "services", "message"),
    [
        ({"SMTP_PORT": "25"}, SERVICES, "without SMTP_HOST"),
        ({"SMTP_HOST": "relay", "SMTP_PORT": "smtp"}, SERVICES, "not a port"),
        ({}, ("campaign_api", "billing"), "unknown services"),
    ],
)
def test_bad_configuration_is_refused(
    environ: dict[str, str], services: tuple[str, ...], message: str
) -> None:
    with pytest.raises(StackError, match=message):
        plan_stack(environ, services)


def test_with_database_keeps_socket_host_query() -> None:
    assert (
        with_database("postgresql+asyncpg://postgres@/postgres?host=/tmp/x", "mailer")
        == "postgresql+asyncpg://postgres@/mailer?host=/tmp/x"
    )


def test_api_gets_port_and_others_their_http_port() -> None:
    inherited = {"PATH": "/bin", "PORT": "1", "SCHEDULER_DATABASE_URL": "x", "DATABASE_URL": "y"}
    api = service_environ("campaign_api", ENDPOINTS, inherited=inherited, extra={})
    assert api["PORT"] == "8000"
    assert api["CAMPAIGN_API_DATABASE_URL"] == ENDPOINTS.database_urls["campaign_api"]
    assert api["NATS_URL"] == "nats://127.0.0.1:4333"
    assert (api["SMTP_HOST"], api["SMTP_PORT"]) == ("127.0.0.1", "2525")
    assert api["DEV_MAILDIR"] == "/data/maildir"
    assert api["PATH"] == "/bin"
    # Only its own database, and no stale value of a variable the stack decides.
    assert "SCHEDULER_DATABASE_URL" not in api
    assert "DATABASE_URL" not in api

    generator = service_environ("content_generator", ENDPOINTS, inherited=inherited, extra={})
    assert generator["CONTENT_GENERATOR_HTTP_PORT"] == "9002"
    assert "PORT" not in generator
    decided = {k for k in generator if k in STACK_VARIABLES}
    assert decided == {
        "NATS_URL",
        "CONTENT_GENERATOR_DATABASE_URL",
        "CONTENT_GENERATOR_HTTP_PORT",
        "SMTP_HOST",
        "SMTP_PORT",
        "DEV_MAILDIR",
    }


def test_extra_env_is_applied_last_and_maildir_only_with_the_sink() -> None:
    endpoints = dataclasses.replace(ENDPOINTS, maildir=None)
    env = service_environ(
        "mailer",
        endpoints,
        inherited={"DEV_MAILDIR": "/stale", "OPENROUTER_API_KEY": "real"},
        extra={"OPENROUTER_API_KEY": "fake", "OPENROUTER_BASE_URL": "http://127.0.0.1:1/api/v1"},
    )
    assert env["OPENROUTER_API_KEY"] == "fake"
    assert env["OPENROUTER_BASE_URL"] == "http://127.0.0.1:1/api/v1"
    assert "DEV_MAILDIR" not in env
