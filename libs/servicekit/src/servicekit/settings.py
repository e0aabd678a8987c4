"""Settings every service shares. Each service subclasses with its own env prefix."""

from __future__ import annotations

import ipaddress
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from servicekit.shutdown import DEFAULT_GRACE_SECONDS

# Where a service runs; production refuses insecure defaults.
Environment = Literal["development", "test", "production"]


class ServiceSettings(BaseSettings):
    """`<PREFIX>_DATABASE_URL` names the service's own database; failing that, `DATABASE_URL`
    names a server and the service uses its own database name on it."""

    # Inputs stay out of validation errors: they would print database passwords and API keys.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    # Each subclass sets these two.
    service_name: ClassVar[str] = "service"
    default_database: ClassVar[str] = "postgres"

    database_url: str = ""
    database_server_url: str = Field(default="", validation_alias="DATABASE_URL")
    nats_url: str = Field(default="nats://127.0.0.1:4222", validation_alias="NATS_URL")
    environment: Environment = Field(
        default="development", validation_alias="ENVIRONMENT"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias="LOG_LEVEL"
    )
    log_format: Literal["json", "console"] = Field(default="json", validation_alias="LOG_FORMAT")
    # JetStream replicas of the streams the service declares: 3 on a 3-node cluster.
    nats_stream_replicas: int = Field(
        default=1, ge=1, le=5, validation_alias="NATS_STREAM_REPLICAS"
    )
    # OTLP/HTTP collector base URL; traces are exported only when it is set.
    otlp_endpoint: str = Field(
        default="", pattern=r"^(https?://\S+)?$", validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    http_host: str = "127.0.0.1"
    # The reverse proxies (addresses or networks, comma-separated; "*" for any) whose
    # X-Forwarded-For and X-Forwarded-Proto are believed: behind them the client's address and
    # https are what the app sees (rate limits, Secure cookies); every other peer is taken as is.
    forwarded_allow_ips: str = Field(default="127.0.0.1", validation_alias="FORWARDED_ALLOW_IPS")
    http_port: int = Field(default=8080, ge=0, le=65535)
    db_pool_size: int = Field(default=5, ge=1, le=100)
    # Outbox rows claimed and published per pass of the relay.
    outbox_batch_size: int = Field(default=1000, ge=1, le=10_000,
                                   validation_alias="OUTBOX_BATCH_SIZE")
    # After SIGTERM or SIGINT: how long work in progress gets to finish (see
    # servicekit.shutdown). The relay then has up to FLUSH_SECONDS more to publish what was
    # written: the deployment's own grace (Kubernetes' terminationGracePeriodSeconds,
    # compose's stop_grace_period) must exceed both together.
    shutdown_grace_seconds: float = Field(default=DEFAULT_GRACE_SECONDS, ge=0, le=600,
                                          validation_alias="SHUTDOWN_GRACE_SECONDS")

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        if entries == ["*"]:
            return "*"
        for entry in entries:
            try:
                ipaddress.ip_network(entry)
            except ValueError:
                raise ValueError(f"not an address or network: {entry!r}") from None
        return ",".join(entries)

    @model_validator(mode="after")
    def _resolve_database(self) -> ServiceSettings:
        own = f"{self.model_config.get('env_prefix', '')}DATABASE_URL"
        if self.database_url:
            variable, value = own, self.database_url
        elif self.database_server_url:
            variable, value = "DATABASE_URL", self.database_server_url
        else:
            raise ValueError(f"{own} or DATABASE_URL must be set")
        try:
            url = make_url(async_url(value))
        except ValueError as exc:  # name the variable the bad value came from
            raise ValueError(f"{variable}: {exc}") from None
        if not self.database_url:  # a server: the service uses its own database on it
            url = url.set(database=self.default_database)
        object.__setattr__(self, "database_url", url.render_as_string(hide_password=False))
        return self


def async_url(url: str) -> str:
    """Accept plain postgres URLs from operators; SQLAlchemy needs the asyncpg dialect named."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError("not a database URL") from None
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    if parsed.drivername != "postgresql+asyncpg":
        raise ValueError(f"unsupported scheme {parsed.drivername!r}, expected postgresql://")
    return parsed.render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> str:
    """The same database as a DSN for raw asyncpg (LISTEN/NOTIFY)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
