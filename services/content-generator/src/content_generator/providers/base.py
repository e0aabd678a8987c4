"""The one interface every email writer implements, and what it returns or raises."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from content_generator.domain import CampaignBrief, EmailContent, FailureReason, Structure
from content_generator.prompts import Prompt


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cost + other.cost,
        )


@dataclass(frozen=True)
class LlmCall:
    """One request to a provider, answered or not: what the `llm_calls` table records."""

    provider: str
    model: str  # the model that answered, else the one asked for
    status: Literal["ok", "error"]
    usage: Usage
    latency_ms: int
    http_status: int | None = None
    error: str | None = None
    kind: Literal["chat", "embedding"] = "chat"


@dataclass(frozen=True)
class EmailRequest:
    brief: CampaignBrief
    sequence: int
    total: int | None
    send_at: datetime
    structure: Structure
    prompt: Prompt


@dataclass(frozen=True)
class Completion:
    email: EmailContent
    provider: str
    model: str  # the model that answered: bill and record this one
    calls: tuple[LlmCall, ...]  # every attempt, the successful one last
    latency_ms: int  # from the first attempt to the answer, waits between attempts included

    @property
    def usage(self) -> Usage:
        """What the email cost: failed attempts that were billed count too."""
        return sum((c.usage for c in self.calls), Usage())


class ProviderError(Exception):
    """A provider gave up. `retryable` faults (rate limits, outages, unusable answers) may pass
    if the event is handled again later; the others will not pass without someone's action."""

    def __init__(
        self,
        message: str,
        *,
        reason: FailureReason,
        retryable: bool,
        http_status: int | None = None,
        retry_after: float | None = None,
        model: str | None = None,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason: FailureReason = reason
        self.retryable = retryable
        self.http_status = http_status
        self.retry_after = retry_after
        self.model = model
        self.usage = usage or Usage()
        # Every attempt made before giving up, set by the provider.
        self.calls: tuple[LlmCall, ...] = ()


class EmailProvider(Protocol):
    name: str

    async def write(self, request: EmailRequest) -> Completion:
        """A validated, sanitised email for the request, or ProviderError."""
        ...
