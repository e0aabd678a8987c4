from __future__ import annotations

from datetime import timedelta

import pydantic
import pytest

from content_generator.app import CONNECTIONS_PER_CLIENT, http_clients, ports_for
from content_generator.db import create_reader
from content_generator.settings import Settings

DB = "postgresql://user:pw@db.example/content_generator"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENROUTER_API_KEY", "OPENROUTER_BASE_URL", "OPENROUTER_TIMEOUT_SECONDS",
                 "OPENROUTER_APP_URL", "OPENROUTER_APP_TITLE", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONTENT_GENERATOR_DATABASE_URL", DB)


def test_openrouter_settings_keep_their_global_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-abc")
    monkeypatch.setenv("OPENROUTER_BASE_URL", "http://127.0.0.1:9999/api/v1/")
    monkeypatch.setenv("OPENROUTER_TIMEOUT_SECONDS", "12.5")
    monkeypatch.setenv("OPENROUTER_APP_URL", "https://campaigns.example")
    monkeypatch.setenv("OPENROUTER_APP_TITLE", "Acme Campaigns")
    monkeypatch.setenv("CONTENT_GENERATOR_MAX_CONCURRENT_CALLS", "6")

    settings = Settings()

    assert settings.openrouter_api_key is not None
    assert settings.openrouter_api_key.get_secret_value() == "sk-or-v1-abc"
    assert "sk-or-v1-abc" not in repr(settings)
    assert settings.base_url == "http://127.0.0.1:9999/api/v1"
    assert settings.openrouter_timeout_seconds == 12.5
    assert settings.openrouter_app_url == "https://campaigns.example"
    assert settings.openrouter_app_title == "Acme Campaigns"
    assert settings.max_concurrent_calls == 6
    assert settings.database_url == "postgresql+asyncpg://user:pw@db.example/content_generator"


def test_defaults_use_openrouter_and_no_key_means_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "  ")
    settings = Settings()
    assert settings.openrouter_api_key is None
    assert settings.base_url == "https://openrouter.ai/api/v1"


def test_attempts_that_could_outlast_the_ack_wait_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENROUTER_TIMEOUT_SECONDS", "60")
    with pytest.raises(pydantic.ValidationError, match="ack wait"):
        Settings()


def test_concurrency_needs_database_connections_to_match(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONTENT_GENERATOR_MAX_CONCURRENT_CALLS", "20")
    with pytest.raises(pydantic.ValidationError, match="DB_POOL_SIZE of at least 12"):
        Settings()
    monkeypatch.setenv("CONTENT_GENERATOR_DB_POOL_SIZE", "12")
    assert Settings().max_concurrent_calls == 20


def test_attribution_headers_cannot_carry_line_breaks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_APP_TITLE", "Acme\r\nX-Evil: 1")
    with pytest.raises(pydantic.ValidationError):
        Settings()


def test_resilience_and_memory_settings_are_read_and_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONTENT_GENERATOR_DEGRADATION_POLICY", "offline_template")
    monkeypatch.setenv("CONTENT_GENERATOR_MODEL_CALLS_PER_SECOND", "2.5")
    monkeypatch.setenv("CONTENT_GENERATOR_SIMILARITY_THRESHOLD", "0.85")
    settings = Settings()
    assert settings.degradation_policy == "offline_template"
    assert settings.model_calls_per_second == 2.5
    assert settings.similarity_threshold == 0.85
    assert settings.embedding_model is None  # the offline embedder by default
    # A redraft may start only while a worst-case one still ends within the ack wait.
    assert 0 < settings.redraft_deadline_seconds < 120 - settings.draft_worst_seconds

    monkeypatch.setenv("CONTENT_GENERATOR_DEGRADATION_POLICY", "pray")
    with pytest.raises(pydantic.ValidationError):
        Settings()


def test_a_hundred_calls_in_flight_are_spread_over_small_http_pools(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-abc")
    monkeypatch.setenv("CONTENT_GENERATOR_MAX_CONCURRENT_CALLS", "100")
    monkeypatch.setenv("CONTENT_GENERATOR_DB_POOL_SIZE", "52")
    clients = http_clients(Settings())
    limits = [c._transport._pool._max_connections for c in clients]  # type: ignore[attr-defined]
    assert sum(limits) >= 104
    assert max(limits) <= CONNECTIONS_PER_CLIENT


def test_a_quarter_more_emails_are_in_progress_than_calls_unless_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONTENT_GENERATOR_MAX_CONCURRENT_CALLS", "100")
    monkeypatch.setenv("CONTENT_GENERATOR_DB_POOL_SIZE", "52")
    assert Settings().email_concurrency == 125
    monkeypatch.setenv("CONTENT_GENERATOR_MAX_CONCURRENT_CALLS", "2")
    assert Settings().email_concurrency == 3
    monkeypatch.setenv("CONTENT_GENERATOR_EMAILS_IN_PROGRESS", "2")
    assert Settings().email_concurrency == 2


def test_the_bandit_and_the_examples_are_set_from_the_environment_and_validated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONTENT_GENERATOR_BANDIT_EXPLORE", "0.2")
    monkeypatch.setenv("CONTENT_GENERATOR_BANDIT_REWARD_WINDOW_HOURS", "24")
    monkeypatch.setenv("CONTENT_GENERATOR_EXAMPLE_MIN_DELIVERED", "200")
    settings = Settings()
    engine = create_reader(settings.database_url, pool_size=1)
    ports = ports_for(settings, engine, [], engine)
    assert (ports.bandit.explore, ports.bandit.reward_window) == (0.2, timedelta(hours=24))
    assert ports.bandit.open_weight == 0.1  # the policy's own default
    assert (ports.memory.min_delivered, ports.memory.examples) == (200, 2)

    monkeypatch.setenv("CONTENT_GENERATOR_BANDIT_EXPLORE", "1.5")
    with pytest.raises(pydantic.ValidationError, match="bandit_explore"):
        Settings()
