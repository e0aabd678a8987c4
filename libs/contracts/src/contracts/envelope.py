"""The envelope every event carries, and the deterministic ids that let consumers dedupe."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# Fixed namespace: ids derived from it are the same in every service and every run.
_NAMESPACE = uuid.UUID("5b0c7c9e-3a4f-4d2b-9a57-1f2f3c6f8e10")


def deterministic_id(kind: str, *parts: object) -> uuid.UUID:
    """The same (kind, parts) always yields the same id, e.g. ("email.due", campaign_id, 3)."""
    return uuid.uuid5(_NAMESPACE, ":".join([kind, *(str(p) for p in parts)]))


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Event(BaseModel):
    """Envelope fields first, then the payload of the concrete event class."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1

    event_id: uuid.UUID
    type: str
    version: int = Field(ge=1)
    occurred_at: AwareDatetime
    workspace_id: uuid.UUID
    correlation_id: uuid.UUID
    payload: Any

    @property
    def subject(self) -> str:
        return self.type

    def dedupe_key(self) -> str:
        """The value published as Nats-Msg-Id."""
        return str(self.event_id)

    @classmethod
    def create(
        cls,
        payload: Payload,
        *,
        workspace_id: uuid.UUID,
        correlation_id: uuid.UUID | None = None,
        event_id: uuid.UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> Self:
        """Build an event; pass event_id when the effect must dedupe across retries."""
        eid = event_id or uuid.uuid4()
        return cls(
            event_id=eid,
            type=cls.TYPE,
            version=cls.VERSION,
            occurred_at=occurred_at or datetime.now(UTC),
            workspace_id=workspace_id,
            correlation_id=correlation_id or eid,
            payload=payload,
        )
