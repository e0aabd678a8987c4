from __future__ import annotations

from datetime import timedelta

from pydantic import Field, HttpUrl, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from content_generator.domain import DegradationPolicy
from content_generator.learning import BanditPolicy
from content_generator.providers.openrouter import RetryPolicy
from contracts.streams import TOPOLOGY
from servicekit.settings import ServiceSettings

_HEADER_SAFE = r"^[^\r\n\x00]*$"
# Left of the ack wait for the database work around the calls.
_ACK_MARGIN = 5.0


class Settings(ServiceSettings):
    """`CONTENT_GENERATOR_*`, except the OpenRouter settings, which keep their global names."""

    model_config = SettingsConfigDict(env_prefix="CONTENT_GENERATOR_", extra="ignore", frozen=True)
    service_name = "content-generator"
    default_database = "content_generator"

    # Unset: emails are written offline from templates, and say so.
    openrouter_api_key: SecretStr | None = Field(
        default=None, validation_alias="OPENROUTER_API_KEY"
    )
    openrouter_base_url: HttpUrl = Field(
        default=HttpUrl("https://openrouter.ai/api/v1"), validation_alias="OPENROUTER_BASE_URL"
    )
    # Bounds each attempt as a whole, not just each read.
    openrouter_timeout_seconds: float = Field(
        default=20.0, gt=0, le=110, validation_alias="OPENROUTER_TIMEOUT_SECONDS"
    )
    # Attribution headers (HTTP-Referer, X-Title); empty sends none.
    openrouter_app_url: str = Field(
        default="", max_length=500, pattern=_HEADER_SAFE, validation_alias="OPENROUTER_APP_URL"
    )
    openrouter_app_title: str = Field(
        default="Campaign Builder", max_length=200, pattern=_HEADER_SAFE,
        validation_alias="OPENROUTER_APP_TITLE",
    )

    # LLM calls in flight at once, across every email and preview of this process.
    max_concurrent_calls: int = Field(default=4, ge=1, le=256)
    # email.due handled at once; unset: a quarter more than the calls allowed in flight, so that
    # a call slot freed by one email goes straight to another while the first stores its draft.
    emails_in_progress: int | None = Field(default=None, ge=1, le=512)
    # Connections for the reads and claims around the calls (one statement each, none held
    # during a call), in a pool of their own besides DB_POOL_SIZE.
    db_read_pool_size: int = Field(default=8, ge=1, le=100)
    # Calls per second to any one model, across this process's emails; unset: no limit.
    model_calls_per_second: float | None = Field(default=None, gt=0, le=1000)
    # Circuit breaker per model: consecutive failed attempts that open it, and the cool-down
    # before a trial call.
    breaker_failures: int = Field(default=5, ge=1, le=100)
    breaker_cooldown_seconds: float = Field(default=30.0, gt=0, le=3600)
    # When no model can write an email: `delay` keeps trying after the send time (the mail goes
    # out late; the event's tries still end in content.failed), `fail` sends content.failed
    # (reason unavailable) at the send time, `offline_template` writes an offline template
    # draft at the send time. Applies to every campaign until campaigns carry their own choice.
    degradation_policy: DegradationPolicy = "delay"

    # Semantic memory. Unset EMBEDDING_MODEL: the offline hashed n-gram embedder (see
    # embeddings.py); set (with an API key): OpenRouter's embeddings endpoint with that model.
    embedding_model: str | None = Field(default=None, min_length=1, max_length=200)
    offline_embedding_dimensions: int = Field(default=256, ge=16, le=4096)
    similar_emails_in_prompt: int = Field(default=3, ge=0, le=20)
    # Cosine similarity to an earlier email from which a draft is written again.
    similarity_threshold: float = Field(default=0.9, gt=0, le=1)
    # Drafts per email at most when they keep coming out too similar.
    max_drafts: int = Field(default=3, ge=1, le=5)
    llm_attempts: int = Field(default=3, ge=1, le=10)
    # Caps what one answer can cost.
    max_output_tokens: int = Field(default=2000, ge=200, le=32_000)
    previous_emails_in_prompt: int = Field(default=10, ge=0, le=50)
    # What worked: the best and the weakest earlier emails by people's click rate shown in the
    # prompt (each at most), counting only emails delivered to at least this many people.
    examples_in_prompt: int = Field(default=2, ge=0, le=10)
    example_min_delivered: int = Field(default=50, ge=1, le=1_000_000)

    # The structure bandit (see learning.py): a person's open without a click, in clicks; the
    # most the workspace's other campaigns weigh per structure, in deliveries; the share of
    # emails whose structure is drawn uniformly; how long after its send an email's engagement
    # counts as its reward.
    bandit_open_weight: float = Field(default=BanditPolicy.open_weight, ge=0, le=1)
    bandit_prior_strength: float = Field(default=BanditPolicy.prior_strength, ge=0,
                                         le=1_000_000)
    bandit_explore: float = Field(default=BanditPolicy.explore, ge=0, le=1)
    bandit_reward_window_hours: float = Field(
        default=BanditPolicy.reward_window / timedelta(hours=1), gt=0, le=24 * 90)

    @field_validator("openrouter_api_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _fits_the_ack_wait(self) -> Settings:
        """Every attempt at one email must end before JetStream redelivers the email.due."""
        spec = next(c for c in TOPOLOGY.consumers_of(self.service_name) if c.stream == "SCHEDULE")
        worst = self.draft_worst_seconds
        if worst + _ACK_MARGIN >= spec.ack_wait_seconds:
            raise ValueError(
                f"OPENROUTER_TIMEOUT_SECONDS x CONTENT_GENERATOR_LLM_ATTEMPTS plus the waits "
                f"between attempts ({worst:g} s) must stay below the email.due ack wait "
                f"({spec.ack_wait_seconds} s, less {_ACK_MARGIN:g} s for the database)"
            )
        # Pool plus overflow must cover the calls in flight, the campaign consumer, the outbox
        # relay and the failed-call log.
        if self.max_concurrent_calls + 3 > 2 * self.db_pool_size:
            raise ValueError(
                f"CONTENT_GENERATOR_MAX_CONCURRENT_CALLS={self.max_concurrent_calls} needs "
                f"CONTENT_GENERATOR_DB_POOL_SIZE of at least {(self.max_concurrent_calls + 4) // 2}"
            )
        return self

    @property
    def email_concurrency(self) -> int:
        if self.emails_in_progress is not None:
            return self.emails_in_progress
        return self.max_concurrent_calls + max(1, self.max_concurrent_calls // 4)

    @property
    def draft_worst_seconds(self) -> float:
        """The longest one draft can take: every attempt timing out, every wait at its longest."""
        return self.llm_attempts * self.openrouter_timeout_seconds + self.retry.longest_waits()

    @property
    def redraft_deadline_seconds(self) -> float:
        """A redraft of a near-duplicate starts only this soon after the email's first draft
        began, so that even a worst-case redraft ends within the email.due ack wait."""
        spec = next(c for c in TOPOLOGY.consumers_of(self.service_name) if c.stream == "SCHEDULE")
        return spec.ack_wait_seconds - _ACK_MARGIN - self.draft_worst_seconds

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.llm_attempts)

    @property
    def base_url(self) -> str:
        return str(self.openrouter_base_url).rstrip("/")
