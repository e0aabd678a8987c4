"""Settings: the shared environment names, and what the mailer refuses to start with."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts.links import LinkClaims, LinkSigner
from mailer.settings import Settings

# A key made for these tests only (openssl genpkey -algorithm RSA).
DKIM_KEY = Path(__file__).parents[1] / "dkim-test-key.pem"
CLAIMS = LinkClaims(uuid.uuid4(), uuid.uuid4(), 1, "ann@example.com")
LINK_KEY = "settings-test-link-key-0123456789abcdef"
BASE = {"MAILER_DATABASE_URL": "postgresql://u:p@db.example:5432/mailer"}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("LINK_SIGNING_KEY", "UNSUBSCRIBE_MAILTO", "DKIM_SELECTOR", "DKIM_DOMAIN",
                 "DKIM_PRIVATE_KEY", "SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD",
                 "SMTP_TLS", "SMTP_TIMEOUT", "MAIL_FROM", "PUBLIC_BASE_URL", "ENVIRONMENT",
                 "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in BASE.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_defaults(env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.database_url == "postgresql+asyncpg://u:p@db.example:5432/mailer"
    assert settings.default_sender.name == "Campaign Builder"
    assert settings.default_sender.address == "campaigns@localhost"
    options = settings.send_options()
    assert options.public_base_url == "http://127.0.0.1:8000"
    # Short, as the heartbeat renews what a live process holds.
    assert options.lease == timedelta(seconds=20)
    assert options.record_max_delay == 0.2
    assert options.retry.max_age == timedelta(days=3)


def test_global_smtp_names(env: pytest.MonkeyPatch) -> None:
    env.setenv("SMTP_HOST", "smtp.example.net")
    env.setenv("SMTP_PORT", "465")
    env.setenv("SMTP_TLS", "implicit")
    env.setenv("SMTP_USERNAME", "mailer")
    env.setenv("SMTP_PASSWORD", "s3cret")
    env.setenv("SMTP_TIMEOUT", "10")
    env.setenv("MAIL_FROM", "News <news@shop.example>")
    env.setenv("PUBLIC_BASE_URL", "https://shop.example/")
    env.setenv("MAILER_BATCH_SIZE", "20")
    settings = Settings()
    config = settings.smtp_config()
    assert (config.host, config.port, config.tls, config.timeout) == (
        "smtp.example.net", 465, "implicit", 10.0)
    assert (config.username, config.password) == ("mailer", "s3cret")
    assert "s3cret" not in repr(settings)
    assert settings.default_sender.address == "news@shop.example"
    assert settings.send_options().public_base_url == "https://shop.example"
    assert settings.send_options().batch_size == 20


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SMTP_TLS", "ssl", "SMTP_TLS"),
        ("MAIL_FROM", "not an address", r"MAIL_FROM|mail_from"),
        ("SMTP_USERNAME", "only-a-user", "set both or neither"),
        ("MAILER_LEASE_SECONDS", "5", "MAILER_LEASE_SECONDS|lease_seconds"),
        ("MAILER_RECORD_MAX_DELAY", "0", "MAILER_RECORD_MAX_DELAY|record_max_delay"),
    ],
)
def test_refuses(env: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    env.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_production_refuses_insecure_settings(env: pytest.MonkeyPatch) -> None:
    env.setenv("ENVIRONMENT", "production")
    env.setenv("LINK_SIGNING_KEY", LINK_KEY)
    with pytest.raises(ValidationError, match="must be https"):
        Settings()
    env.setenv("PUBLIC_BASE_URL", "https://shop.example")
    env.setenv("SMTP_USERNAME", "mailer")
    env.setenv("SMTP_PASSWORD", "s3cret")
    with pytest.raises(ValidationError, match="clear text"):
        Settings()
    env.setenv("SMTP_TLS", "starttls")
    assert Settings().smtp_tls == "starttls"


def test_link_signing_key_is_required_outside_development(env: pytest.MonkeyPatch) -> None:
    development = Settings().link_signer()
    assert development.verify("open", development.sign("open", CLAIMS)) == CLAIMS
    assert development.verify("open", Settings().link_signer().sign("open", CLAIMS)) == CLAIMS
    env.setenv("ENVIRONMENT", "test")
    with pytest.raises(ValidationError, match="LINK_SIGNING_KEY is required"):
        Settings()
    env.setenv("LINK_SIGNING_KEY", "too short")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings()
    env.setenv("LINK_SIGNING_KEY", LINK_KEY)
    token = Settings().link_signer().sign("open", CLAIMS)
    assert LinkSigner(LINK_KEY).verify("open", token) == CLAIMS


def test_dkim_needs_all_three_settings_and_a_usable_key(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert Settings().dkim_signer() is None
    env.setenv("DKIM_SELECTOR", "mail")
    with pytest.raises(ValidationError, match="all or none"):
        Settings()
    env.setenv("DKIM_DOMAIN", "flowers.example")
    env.setenv("DKIM_PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----\nnot a key\n")
    with pytest.raises(ValueError, match="cannot sign"):
        Settings().dkim_signer()
    pem = DKIM_KEY.read_bytes()
    (tmp_path / "dkim.pem").write_bytes(pem)
    env.setenv("DKIM_PRIVATE_KEY", str(tmp_path / "dkim.pem"))
    from_file = Settings().dkim_signer()
    env.setenv("DKIM_PRIVATE_KEY", pem.decode())
    inline = Settings().dkim_signer()
    assert from_file is not None
    assert inline is not None
    assert from_file.private_key == inline.private_key == pem


def test_sender_processes_share_the_sessions_and_the_rate(env: pytest.MonkeyPatch) -> None:
    env.setenv("MAILER_SENDER_PROCESSES", "3")
    env.setenv("MAILER_SMTP_POOL_SIZE", "20")
    env.setenv("MAILER_SMTP_RATE", "300")
    settings = Settings()
    assert [settings.smtp_sessions(i) for i in range(3)] == [7, 7, 6]
    assert settings.smtp_config().rate == 100
    env.setenv("MAILER_SMTP_POOL_SIZE", "2")
    with pytest.raises(ValidationError, match="MAILER_SENDER_PROCESSES cannot exceed"):
        Settings()


def test_sender_processes_serve_their_metrics_on_ports_of_their_own(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("MAILER_SENDER_PROCESSES", "3")
    env.setenv("MAILER_SMTP_POOL_SIZE", "6")
    assert Settings().metrics_port(1) is None  # none unless asked for
    env.setenv("MAILER_SENDER_METRICS_PORT", "9101")
    assert [Settings().metrics_port(i) for i in (1, 2)] == [9101, 9102]
    env.setenv("MAILER_HTTP_PORT", "9102")
    with pytest.raises(ValidationError, match=r"ports 9101-9102 .* include MAILER_HTTP_PORT"):
        Settings()
