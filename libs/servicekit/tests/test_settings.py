"""Service settings: where the database comes from, and errors that name the variable."""

from __future__ import annotations

import pydantic
import pytest
from pydantic_settings import SettingsConfigDict
from sqlalchemy.engine import make_url

from servicekit.settings import ServiceSettings, async_url


class MailerLikeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore", frozen=True)
    service_name = "demo"
    default_database = "demo_db"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEMO_DATABASE_URL", "DATABASE_URL", "NATS_URL", "DEMO_HTTP_PORT",
                 "NATS_STREAM_REPLICAS", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


def test_database_url_names_a_server_and_the_service_uses_its_own_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:p%40ss@db.internal:5433/postgres")

    settings = MailerLikeSettings()

    assert settings.database_url == "postgresql+asyncpg://app:p%40ss@db.internal:5433/demo_db"


def test_a_unix_socket_server_keeps_its_host_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@/postgres?host=/var/run/postgresql")

    url = make_url(MailerLikeSettings().database_url)

    assert (url.drivername, url.database, url.query["host"]) == (
        "postgresql+asyncpg", "demo_db", "/var/run/postgresql",
    )


def test_the_service_variable_wins_and_is_used_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://shared/postgres")
    monkeypatch.setenv("DEMO_DATABASE_URL", "postgres://me@own-host/elsewhere")

    assert MailerLikeSettings().database_url == "postgresql+asyncpg://me@own-host/elsewhere"


def test_other_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/postgres")
    monkeypatch.setenv("NATS_URL", "nats://a:4222,nats://b:4222")
    monkeypatch.setenv("DEMO_HTTP_PORT", "9123")

    settings = MailerLikeSettings()

    assert (settings.nats_url, settings.http_port) == ("nats://a:4222,nats://b:4222", 9123)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DEMO_DATABASE_URL", "mysql://me@db/d", "DEMO_DATABASE_URL: unsupported scheme 'mysql'"),
        ("DATABASE_URL", "sqlite:///demo.db", "DATABASE_URL: unsupported scheme 'sqlite'"),
        ("DEMO_DATABASE_URL", "db.internal:5432", "DEMO_DATABASE_URL: not a database URL"),
        ("DATABASE_URL", "not a url", "DATABASE_URL: not a database URL"),
    ],
)
def test_a_bad_url_is_rejected_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(pydantic.ValidationError, match=expected):
        MailerLikeSettings()


def test_a_missing_database_names_both_variables() -> None:
    with pytest.raises(pydantic.ValidationError, match="DEMO_DATABASE_URL or DATABASE_URL"):
        MailerLikeSettings()


def test_errors_do_not_print_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_DATABASE_URL", "mysql://me:hunter2@db/demo")

    with pytest.raises(pydantic.ValidationError) as error:
        MailerLikeSettings()

    assert "hunter2" not in str(error.value)


def test_out_of_range_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/postgres")
    monkeypatch.setenv("DEMO_HTTP_PORT", "70000")

    with pytest.raises(pydantic.ValidationError, match="http_port"):
        MailerLikeSettings()


def test_async_url_names_the_asyncpg_driver() -> None:
    assert async_url("postgres://u@h/d") == "postgresql+asyncpg://u@h/d"
    assert async_url("postgresql+psycopg2://u@h/d") == "postgresql+asyncpg://u@h/d"
    assert async_url("postgresql+asyncpg://u@h/d") == "postgresql+asyncpg://u@h/d"


def test_stream_replicas_and_trace_export_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db/postgres")
    assert (MailerLikeSettings().nats_stream_replicas, MailerLikeSettings().otlp_endpoint) == (
        1, "")

    monkeypatch.setenv("NATS_STREAM_REPLICAS", "3")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector:4318")
    settings = MailerLikeSettings()

    assert (settings.nats_stream_replicas, settings.otlp_endpoint) == (
        3, "http://otel-collector:4318")


@pytest.mark.parametrize(("variable", "value"), [
    ("NATS_STREAM_REPLICAS", "0"),
    ("NATS_STREAM_REPLICAS", "three"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "otel-collector:4318"),
])
def test_invalid_observability_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db/postgres")
    monkeypatch.setenv(variable, value)

    with pytest.raises(pydantic.ValidationError):
        MailerLikeSettings()


def test_trusted_proxies_are_addresses_or_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db/postgres")
    assert MailerLikeSettings().forwarded_allow_ips == "127.0.0.1"  # uvicorn's own default
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", " 10.0.0.0/8, 192.0.2.7,fd00::/8 ")
    assert MailerLikeSettings().forwarded_allow_ips == "10.0.0.0/8,192.0.2.7,fd00::/8"
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "nginx")
    with pytest.raises(pydantic.ValidationError, match="FORWARDED_ALLOW_IPS"):
        MailerLikeSettings()
