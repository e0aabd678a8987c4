"""Settings: the shared environment names, and what the mailer refuses to start with."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from mailer.settings import Settings

BASE = {"MAILER_DATABASE_URL": "postgresql://u:p@db.example:5432/mailer"}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_TLS",
                 "SMTP_TIMEOUT", "MAIL_FROM", "PUBLIC_BASE_URL", "ENVIRONMENT", "DATABASE_URL"):
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
    assert options.lease == timedelta(minutes=5)
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
        ("SMTP_TIMEOUT", "120", "4 x SMTP_TIMEOUT"),
    ],
)
def test_refuses(env: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    env.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_production_refuses_insecure_settings(env: pytest.MonkeyPatch) -> None:
    env.setenv("ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="https"):
        Settings()
    env.setenv("PUBLIC_BASE_URL", "https://shop.example")
    env.setenv("SMTP_USERNAME", "mailer")
    env.setenv("SMTP_PASSWORD", "s3cret")
    with pytest.raises(ValidationError, match="clear text"):
        Settings()
    env.setenv("SMTP_TLS", "starttls")
    assert Settings().smtp_tls == "starttls"
