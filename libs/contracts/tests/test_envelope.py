"""The envelope and the deterministic ids every consumer dedupes on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from contracts import EmailDue, deterministic_id
from contracts.events import EmailDuePayload

CAMPAIGN = uuid.UUID("6f1d2c1e-4b0a-4c55-9d1e-0d6a1a7b9c01")
WORKSPACE = uuid.UUID("6f1d2c1e-4b0a-4c55-9d1e-0d6a1a7b9c03")


def due(sequence: int) -> EmailDuePayload:
    return EmailDuePayload(campaign_id=CAMPAIGN, sequence=sequence,
                           send_at=datetime(2025, 3, 4, 8, tzinfo=UTC))


def test_deterministic_ids_are_stable_across_processes_and_releases() -> None:
    # Pinned: services running different releases must derive the same id for the same email.
    assert deterministic_id("email.due", CAMPAIGN, 3) == uuid.UUID(
        "d941d56e-919c-5eb6-a1cb-27ffd4450517"
    )
    assert deterministic_id("content.generated", CAMPAIGN, 3) == uuid.UUID(
        "61a58264-1981-5f90-8110-ed655629e33f"
    )
    assert deterministic_id("email.due", CAMPAIGN, 3).version == 5


def test_deterministic_ids_differ_by_kind_and_by_part() -> None:
    ids = {
        deterministic_id("email.due", CAMPAIGN, 3),
        deterministic_id("email.due", CAMPAIGN, 4),
        deterministic_id("content.generated", CAMPAIGN, 3),
        deterministic_id("email.due", uuid.UUID(int=CAMPAIGN.int + 1), 3),
        deterministic_id("email.due", CAMPAIGN, 3, "ada@example.com"),
    }

    assert len(ids) == 5


def test_a_re_emitted_event_keeps_its_id_and_dedupe_key() -> None:
    event_id = deterministic_id("email.due", CAMPAIGN, 3)
    first = EmailDue.create(due(3), workspace_id=WORKSPACE, event_id=event_id)
    again = EmailDue.create(due(3), workspace_id=WORKSPACE, event_id=event_id,
                            occurred_at=first.occurred_at + timedelta(minutes=10))

    assert first.event_id == again.event_id == event_id
    assert first.dedupe_key() == again.dedupe_key() == str(event_id)


def test_create_fills_the_envelope() -> None:
    before = datetime.now(UTC)
    event = EmailDue.create(due(1), workspace_id=WORKSPACE)

    assert (event.type, event.version) == ("email.due", 1)
    assert event.workspace_id == WORKSPACE
    assert event.event_id.version == 4  # random when no deterministic id is given
    assert event.correlation_id == event.event_id  # it starts its own chain
    assert before <= event.occurred_at <= datetime.now(UTC)
    assert event.occurred_at.tzinfo is not None


def test_create_carries_the_correlation_of_the_event_that_caused_it() -> None:
    cause = EmailDue.create(due(1), workspace_id=WORKSPACE)

    effect = EmailDue.create(due(2), workspace_id=WORKSPACE, correlation_id=cause.correlation_id)

    assert effect.correlation_id == cause.event_id != effect.event_id
