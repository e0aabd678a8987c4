from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from mailer.domain import RetryPolicy, Sender, parse_mailbox
from mailer.sender import SendOptions
from mailer.smtp import SmtpConfig
from servicekit.settings import ServiceSettings


class Settings(ServiceSettings):
    """`MAILER_*` for the mailer's own knobs; SMTP_*, MAIL_FROM and PUBLIC_BASE_URL are the
    names every deployment of the system shares."""

    model_config = SettingsConfigDict(env_prefix="MAILER_", extra="ignore", frozen=True)
    service_name = "mailer"
    default_database = "mailer"

    smtp_host: str = Field(default="localhost", min_length=1, validation_alias="SMTP_HOST")
    smtp_port: int = Field(default=25, ge=1, le=65535, validation_alias="SMTP_PORT")
    smtp_username: str = Field(default="", validation_alias="SMTP_USERNAME")
    smtp_password: SecretStr = Field(default=SecretStr(""), validation_alias="SMTP_PASSWORD")
    smtp_tls: Literal["none", "starttls", "implicit"] = Field(
        default="none", validation_alias="SMTP_TLS"
    )
    # Per SMTP command; a whole send (connect to final reply) is bounded by twice this.
    smtp_timeout: float = Field(default=30.0, gt=0, le=600, validation_alias="SMTP_TIMEOUT")
    smtp_pool_size: int = Field(default=2, ge=1, le=50)

    public_base_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("http://127.0.0.1:8000"), validation_alias="PUBLIC_BASE_URL"
    )
    mail_from: str = Field(
        default="Campaign Builder <campaigns@localhost>", validation_alias="MAIL_FROM"
    )

    batch_size: int = Field(default=100, ge=1, le=5_000)
    poll_interval: float = Field(default=1.0, gt=0, le=60)
    # A delivery left in `sending` longer than this is presumed orphaned and sent again.
    lease_seconds: int = Field(default=300, ge=10)
    max_retry_age_seconds: int = Field(default=3 * 24 * 3600, ge=60)

    @field_validator("mail_from")
    @classmethod
    def _valid_mail_from(cls, value: str) -> str:
        parse_mailbox(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if 2 * self.smtp_timeout * 2 >= self.lease_seconds:
            # New sends start only during the first half of a lease, and each one ends within
            # 2 x SMTP_TIMEOUT: the lease must cover both or a live send could be reclaimed.
            raise ValueError("MAILER_LEASE_SECONDS must exceed 4 x SMTP_TIMEOUT")
        if bool(self.smtp_username) != bool(self.smtp_password.get_secret_value()):
            raise ValueError("SMTP_USERNAME and SMTP_PASSWORD: set both or neither")
        if self.environment == "production":
            if self.public_base_url.scheme != "https":
                raise ValueError("PUBLIC_BASE_URL must be https in production")
            if self.smtp_username and self.smtp_tls == "none":
                raise ValueError("SMTP_TLS=none would send SMTP credentials in clear text")
        return self

    @property
    def default_sender(self) -> Sender:
        return parse_mailbox(self.mail_from)

    def smtp_config(self) -> SmtpConfig:
        return SmtpConfig(
            host=self.smtp_host,
            port=self.smtp_port,
            tls=self.smtp_tls,
            timeout=self.smtp_timeout,
            username=self.smtp_username or None,
            password=self.smtp_password.get_secret_value() or None,
        )

    def send_options(self) -> SendOptions:
        return SendOptions(
            batch_size=self.batch_size,
            lease=timedelta(seconds=self.lease_seconds),
            retry=RetryPolicy(max_age=timedelta(seconds=self.max_retry_age_seconds)),
            default_sender=self.default_sender,
            public_base_url=str(self.public_base_url).rstrip("/"),
        )

