from __future__ import annotations

import hashlib

import structlog
from pydantic import AliasChoices, AnyHttpUrl, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from campaign_api.erasure import ErasureKey
from contracts.links import LinkSigner
from servicekit.settings import ServiceSettings

log = structlog.get_logger(__name__)

# Development only, so that links work without configuration (the mailer derives the same key);
# every other environment must set LINK_SIGNING_KEY.
DEVELOPMENT_LINK_KEY = hashlib.sha256(b"campaign-builder development link key").hexdigest()
# Development only too; elsewhere ERASURE_KEY is required: with a well-known key anyone could
# test a guessed address against the erased digests.
DEVELOPMENT_ERASURE_KEY = hashlib.sha256(b"campaign-builder development erasure key").hexdigest()


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CAMPAIGN_API_", extra="ignore", frozen=True)
    service_name = "campaign-api"
    default_database = "campaign_api"

    http_host: str = Field(default="127.0.0.1",
                           validation_alias=AliasChoices("HOST", "CAMPAIGN_API_HTTP_HOST"))
    http_port: int = Field(default=8000, ge=0, le=65535,
                           validation_alias=AliasChoices("PORT", "CAMPAIGN_API_HTTP_PORT"))
    link_signing_key: SecretStr = Field(default=SecretStr(""),
                                        validation_alias="LINK_SIGNING_KEY")
    # Keys the digests erased addresses are remembered by (campaign_api.erasure).
    erasure_key: SecretStr = Field(default=SecretStr(""), validation_alias="ERASURE_KEY")
    # Per API key: a bucket of `rate_burst` requests refilled at `rate_per_second`.
    rate_per_second: float = Field(default=20.0, gt=0)
    rate_burst: int = Field(default=100, ge=1)
    # Per client address: failed authentications (API key or sign-in form) allowed in a burst,
    # and how many more each minute; past them every attempt answers 429 with Retry-After.
    auth_failure_burst: int = Field(default=10, ge=1, le=10_000)
    auth_failures_per_minute: float = Field(default=6.0, gt=0, le=10_000)
    # Where visitors reach campaign-api: the sign-up form's confirm links and the embeddable
    # form point here, never at the Host a request claims (which anyone can set).
    public_base_url: AnyHttpUrl = Field(default=AnyHttpUrl("http://127.0.0.1:8000"),
                                        validation_alias="PUBLIC_BASE_URL")
    # Per client address: sign-ups posted to the public forms in a burst, and how many more
    # each minute (against bots filling a list with other people's addresses).
    signup_burst: int = Field(default=5, ge=1, le=10_000)
    signups_per_minute: float = Field(default=2.0, gt=0, le=10_000)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_import_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    preview_timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    # Every segment's membership is recomputed and its diff sent to the mailer this often; a
    # changed segment at once, found by a look every `segment_poll_seconds`.
    segment_refresh_seconds: float = Field(default=60.0, ge=1, le=86_400)
    segment_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # At most one email.performance per email this often (and only when its counts changed);
    # emails whose counts changed are looked for every `summary_poll_seconds`.
    summary_interval_seconds: float = Field(default=60.0, ge=0, le=86_400)
    summary_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # Contacts with people's opens or clicks not yet learned from have their send hours
    # learned again this often (send-time optimisation).
    send_hours_interval_seconds: float = Field(default=3_600.0, ge=1, le=86_400)
    # A/B tests whose window is over are looked for this often.
    ab_test_poll_seconds: float = Field(default=5.0, gt=0, le=300)

    @model_validator(mode="after")
    def _link_key(self) -> Settings:
        key = self.link_signing_key.get_secret_value()
        if not key and self.environment != "development":
            raise ValueError("LINK_SIGNING_KEY is required outside development")
        if key:
            LinkSigner(key)  # refuses a short key
        return self

    @model_validator(mode="after")
    def _public_url(self) -> Settings:
        if self.environment == "production" and self.public_base_url.scheme != "https":
            raise ValueError("PUBLIC_BASE_URL must be https in production")
        return self

    @property
    def base_url(self) -> str:
        """PUBLIC_BASE_URL without its trailing slash."""
        return str(self.public_base_url).rstrip("/")

    @model_validator(mode="after")
    def _erasure_key(self) -> Settings:
        key = self.erasure_key.get_secret_value()
        if not key and self.environment != "development":
            raise ValueError("ERASURE_KEY is required outside development")
        if key:
            ErasureKey(key)  # refuses a short key
        return self

    def erasure(self) -> ErasureKey:
        key = self.erasure_key.get_secret_value()
        if not key:
            log.warning("campaign_api.development_erasure_key",
                        hint="set ERASURE_KEY: erased addresses are kept under a well-known key")
            key = DEVELOPMENT_ERASURE_KEY
        return ErasureKey(key)

    def link_signer(self) -> LinkSigner:
        key = self.link_signing_key.get_secret_value()
        if not key:
            log.warning("campaign_api.development_link_key",
                        hint="set LINK_SIGNING_KEY: links are verified with a well-known key")
            key = DEVELOPMENT_LINK_KEY
        return LinkSigner(key)
