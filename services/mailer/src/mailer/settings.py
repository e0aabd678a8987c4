from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import structlog
from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from contracts.links import LinkSigner
from mailer.dkim_signing import DkimSigner
from mailer.domain import RetryPolicy, Sender, header_safe, parse_mailbox
from mailer.sender import SendOptions
from mailer.smtp import SmtpConfig, TlsMode
from servicekit.settings import ServiceSettings

log = structlog.get_logger(__name__)

# Development only, so that links work without configuration; every other environment must set
# its own LINK_SIGNING_KEY (the same one campaign-api verifies with).
DEVELOPMENT_LINK_KEY = hashlib.sha256(b"campaign-builder development link key").hexdigest()


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
    smtp_tls: TlsMode = Field(
        default="none", validation_alias="SMTP_TLS"
    )
    smtp_ca_file: str = Field(default="", validation_alias="SMTP_CA_FILE")
    # Per SMTP command; a whole send (connect to final reply) is bounded by twice this.
    smtp_timeout: float = Field(default=30.0, gt=0, le=600, validation_alias="SMTP_TIMEOUT")
    # Sessions kept open to the SMTP server: also the most messages in transfer at once.
    smtp_pool_size: int = Field(default=2, ge=1, le=100)
    # Messages per second to the SMTP server; 0 means no limit.
    smtp_rate: float = Field(default=0, ge=0)
    # Processes that claim and send (see mailer.processes); the sessions and the rate above
    # are the mailer's, shared out among them.
    sender_processes: int = Field(default=1, ge=1, le=16)
    # Sender process N (1 ..) serves its own /metrics on this port + N - 1; 0 serves none.
    # The `run` process's /metrics counts its own sends only.
    sender_metrics_port: int = Field(default=0, ge=0, le=65535 - 15)

    public_base_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("http://127.0.0.1:8000"), validation_alias="PUBLIC_BASE_URL"
    )
    mail_from: str = Field(
        default="Campaign Builder <campaigns@localhost>", validation_alias="MAIL_FROM"
    )

    link_signing_key: SecretStr = Field(
        default=SecretStr(""), validation_alias="LINK_SIGNING_KEY"
    )
    unsubscribe_mailto: str = Field(default="", validation_alias="UNSUBSCRIBE_MAILTO")
    dkim_selector: str = Field(default="", validation_alias="DKIM_SELECTOR")
    dkim_domain: str = Field(default="", validation_alias="DKIM_DOMAIN")
    # The PEM itself, or the path of a file holding it.
    dkim_private_key: SecretStr = Field(default=SecretStr(""), validation_alias="DKIM_PRIVATE_KEY")

    batch_size: int = Field(default=100, ge=1, le=5_000)
    # Batches in progress at once: one is claimed and rendered while another is being sent.
    pipeline_depth: int = Field(default=2, ge=1, le=8)
    # Outcomes written per transaction, and the most seconds one waits for the others: what
    # a crash leaves in doubt is bounded by both (docs/architecture.md, "The crash window").
    record_batch: int = Field(default=100, ge=1, le=5_000)
    record_max_delay: float = Field(default=0.2, gt=0, le=5)
    poll_interval: float = Field(default=1.0, gt=0, le=60)
    # A delivery left in `sending` this long without its holder's heartbeat (every third of
    # it) is presumed orphaned and sent again: after a crash, the rest resumes within this.
    lease_seconds: int = Field(default=20, ge=10, le=3600)
    max_retry_age_seconds: int = Field(default=3 * 24 * 3600, ge=60)

    @field_validator("mail_from")
    @classmethod
    def _valid_mail_from(cls, value: str) -> str:
        parse_mailbox(value)
        return value

    @field_validator("unsubscribe_mailto", "dkim_selector", "dkim_domain")
    @classmethod
    def _one_line(cls, value: str) -> str:
        header_safe("setting", value)
        if value and not value.isascii():
            raise ValueError("must be ASCII")
        return value.strip()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        key = self.link_signing_key.get_secret_value()
        if not key and self.environment != "development":
            raise ValueError("LINK_SIGNING_KEY is required outside development")
        if key:
            LinkSigner(key)  # refuses a short key
        dkim = (self.dkim_selector, self.dkim_domain, self.dkim_private_key.get_secret_value())
        if any(dkim) and not all(dkim):
            raise ValueError("DKIM_SELECTOR, DKIM_DOMAIN and DKIM_PRIVATE_KEY: all or none")
        if self.unsubscribe_mailto and "@" not in self.unsubscribe_mailto:
            raise ValueError("UNSUBSCRIBE_MAILTO must be an address")
        first = self.sender_metrics_port
        ports = range(first, first + self.sender_processes - 1)
        if first and self.http_port in ports:
            raise ValueError(f"MAILER_SENDER_METRICS_PORT: ports {ports.start}-{ports.stop - 1} "
                             f"of the sender processes include MAILER_HTTP_PORT {self.http_port}")
        if self.sender_processes > self.smtp_pool_size:
            raise ValueError("MAILER_SENDER_PROCESSES cannot exceed MAILER_SMTP_POOL_SIZE: "
                             "each sender process needs a session")
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
            rate=self.smtp_rate / self.sender_processes or None,
            ca_file=self.smtp_ca_file or None,
        )

    @property
    def max_in_doubt(self) -> int:
        """The most deliveries a killed sender process can leave sent but unrecorded: the
        claims it holds (docs/architecture.md, "The crash window")."""
        return self.batch_size * self.pipeline_depth

    @property
    def outage_without_doubt(self) -> float:
        """Seconds the database may be away (a crash and its restart) without leaving any send
        in doubt: within half a lease the outcomes held meanwhile are written once it is back,
        before any claim could have lapsed (docs/architecture.md, "The crash window")."""
        return self.lease_seconds / 2

    def metrics_port(self, process: int) -> int | None:
        """Where sender process `process` (1 ..) serves /metrics, if anywhere."""
        return self.sender_metrics_port + process - 1 if self.sender_metrics_port else None

    def smtp_sessions(self, process: int) -> int:
        """Sender process `process`'s share of MAILER_SMTP_POOL_SIZE (0 is the `run` process);
        the first ones take what does not divide evenly."""
        share, rest = divmod(self.smtp_pool_size, self.sender_processes)
        return share + (process < rest)

    def link_signer(self) -> LinkSigner:
        key = self.link_signing_key.get_secret_value()
        if not key:
            log.warning("mailer.development_link_key",
                        hint="set LINK_SIGNING_KEY: links are signed with a well-known key")
            key = DEVELOPMENT_LINK_KEY
        return LinkSigner(key)

    def dkim_signer(self) -> DkimSigner | None:
        """None without DKIM settings; ValueError when the key cannot sign."""
        value = self.dkim_private_key.get_secret_value()
        if not value.strip():
            return None
        is_pem = value.lstrip().startswith("-----BEGIN")
        key = value.encode() if is_pem else Path(value.strip()).read_bytes()
        try:
            return DkimSigner(self.dkim_selector, self.dkim_domain, key)
        except Exception as exc:  # dkimpy raises its own error types for unusable keys
            raise ValueError(f"DKIM_PRIVATE_KEY cannot sign: {exc}") from exc

    def send_options(self) -> SendOptions:
        return SendOptions(
            link_signer=self.link_signer(),
            unsubscribe_mailto=self.unsubscribe_mailto or None,
            dkim=self.dkim_signer(),
            record_batch=self.record_batch,
            record_max_delay=self.record_max_delay,
            batch_size=self.batch_size,
            lease=timedelta(seconds=self.lease_seconds),
            retry=RetryPolicy(max_age=timedelta(seconds=self.max_retry_age_seconds)),
            default_sender=self.default_sender,
            public_base_url=str(self.public_base_url).rstrip("/"),
        )

