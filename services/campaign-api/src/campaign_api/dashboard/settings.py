"""What the dashboard reads from the environment."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

import structlog
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit.settings import Environment

log = structlog.get_logger(__name__)


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    # Signs session cookies. Without one, a development process makes up its own: sessions then
    # end when it restarts, and replicas would not accept each other's cookies (`make up` gives
    # it one it keeps in .data).
    session_secret: SecretStr | None = Field(
        default=None, min_length=32, validation_alias="CAMPAIGN_API_SESSION_SECRET")
    session_max_age_seconds: int = Field(
        default=12 * 3600, ge=60, le=30 * 24 * 3600,
        validation_alias="CAMPAIGN_API_SESSION_MAX_AGE_SECONDS")
    environment: Environment = Field(
        default="development", validation_alias="ENVIRONMENT")
    # Set when mail goes to the development SMTP sink: the outbox page reads this Maildir.
    dev_maildir: Path | None = Field(default=None, validation_alias="DEV_MAILDIR")

    @model_validator(mode="after")
    def _secret_in_production(self) -> DashboardSettings:
        if self.environment == "production" and self.session_secret is None:
            raise ValueError("CAMPAIGN_API_SESSION_SECRET must be set in production")
        return self

    def signing_secret(self) -> str:
        if self.session_secret is not None:
            return self.session_secret.get_secret_value()
        return _process_secret()


@lru_cache(maxsize=1)
def _process_secret() -> str:
    log.warning("dashboard.session_secret_generated",
                hint="set CAMPAIGN_API_SESSION_SECRET to keep sessions across restarts")
    return secrets.token_urlsafe(32)
