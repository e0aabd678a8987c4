"""Event models: every event survives the wire, and invalid input is rejected by field."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pydantic
import pytest

from contracts import (
    EVENT_TYPES,
    AudienceMember,
    AudienceMembersAdded,
    AudienceMembersRemoved,
    CampaignCancelled,
    CampaignCompleted,
    CampaignCreated,
    CampaignDefinition,
    CampaignPaused,
    CampaignResumed,
    CampaignScheduled,
    CampaignUpdated,
    ContentFailed,
    ContentGenerated,
    EmailClicked,
    EmailDue,
    EmailFailed,
    EmailOpened,
    EmailPerformance,
    EmailSent,
    Event,
    RecipientUnsubscribed,
    Schedule,
    WorkspaceUpdated,
    event_class_for,
    parse_event,
)
from contracts.ab_tests import AbTestDecided, AbTestDecidedPayload, VariantResult
from contracts.contacts import (
    ContactErased,
    ContactErasedPayload,
    ContactsChanged,
    ContactsChangedPayload,
    ContactsDeleted,
    ContactsDeletedPayload,
    ContactState,
    ListMembersAdded,
    ListMembersPayload,
    ListMembersRemoved,
    SuppressionAdded,
    SuppressionPayload,
    SuppressionRemoved,
    TransactionalPayload,
    TransactionalRequested,
)
from contracts.envelope import Payload
from contracts.events import (
    MAX_MEMBERS_PER_EVENT,
    SUPPRESSED_REASON,
    AudienceMembersAddedPayload,
    AudienceMembersRemovedPayload,
    CampaignCompletedPayload,
    CampaignRef,
    CampaignScheduledPayload,
    ContentFailedPayload,
    ContentGeneratedPayload,
    EmailClickedPayload,
    EmailDuePayload,
    EmailFailedPayload,
    EmailSentPayload,
    EngagementRef,
    RecipientUnsubscribedPayload,
    WorkspaceSettingsPayload,
)
from contracts.journey_events import (
    ActivityPayload,
    ActivityRecorded,
    JourneyActionDue,
    JourneyActionPayload,
    JourneyProgress,
    JourneyProgressPayload,
    JourneyStepDue,
    JourneyStepDuePayload,
    StepProgress,
)
from contracts.learning import EmailPerformancePayload

CAMPAIGN = uuid.UUID("6f1d2c1e-4b0a-4c55-9d1e-0d6a1a7b9c01")
AUDIENCE = uuid.UUID("6f1d2c1e-4b0a-4c55-9d1e-0d6a1a7b9c02")
WORKSPACE = uuid.UUID("6f1d2c1e-4b0a-4c55-9d1e-0d6a1a7b9c03")
SEND_AT = datetime(2025, 3, 4, 8, 0, tzinfo=UTC)


def schedule(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "schedule_type": "weekly",
        "weekly_days": [2, 4],
        "total_months": 3,
        "start_at": "2025-03-03T00:00:00+01:00",
        "send_time": "09:00",
        "timezone": "Europe/Berlin",
    }
    return {**fields, **changes}


DEFINITION = CampaignDefinition(
    campaign_id=CAMPAIGN,
    audience_id=AUDIENCE,
    name="Spring launch",
    description="Ten emails introducing the spring collection.",
    brand_voice="Warm, concise, never pushy.",
    audience_description="Returning customers",
    model="openai/gpt-4o-mini",
    fallback_models=["anthropic/claude-3.5-haiku"],
    from_name="Acme",
    from_email="news@acme.example",
    reply_to="help@acme.example",
    schedule=Schedule.model_validate(schedule()),
)
DELIVERY = {"campaign_id": CAMPAIGN, "sequence": 3, "recipient": "ada@example.com"}

# One realistic payload per event type; a new event type must add one here.
SAMPLES: dict[type[Event], Payload] = {
    CampaignCreated: DEFINITION,
    CampaignUpdated: DEFINITION.model_copy(update={"name": "Spring launch (v2)"}),
    CampaignPaused: CampaignRef(campaign_id=CAMPAIGN),
    CampaignResumed: CampaignRef(campaign_id=CAMPAIGN),
    CampaignCancelled: CampaignRef(campaign_id=CAMPAIGN),
    CampaignCompleted: CampaignCompletedPayload(campaign_id=CAMPAIGN, total_emails=26),
    WorkspaceUpdated: WorkspaceSettingsPayload(name="Acme", monthly_llm_budget=Decimal("25")),
    CampaignScheduled: CampaignScheduledPayload(
        campaign_id=CAMPAIGN, state="active", total_emails=26, next_sequence=2,
        next_send_times=[datetime(2026, 12, 1, 9, tzinfo=UTC)],
    ),
    AudienceMembersAdded: AudienceMembersAddedPayload(
        audience_id=AUDIENCE,
        members=[
            AudienceMember(email="ada@example.com", name="Ada", fields={"company": "Engines"}),
            AudienceMember(email="grace@example.com"),
        ],
    ),
    AudienceMembersRemoved: AudienceMembersRemovedPayload(
        audience_id=AUDIENCE, emails=["ada@example.com"]
    ),
    EmailDue: EmailDuePayload(campaign_id=CAMPAIGN, sequence=3, total=26, send_at=SEND_AT),
    ContentGenerated: ContentGeneratedPayload(
        campaign_id=CAMPAIGN, sequence=3, send_at=SEND_AT,
        subject="Three ways to wear linen", preheader="And one to avoid",
        body_html="<p>Hello {{name}}</p>", body_text="Hello {{name}}",
        model="openai/gpt-4o-mini", provider="openrouter", structure="educational",
        prompt_version="v3", prompt_tokens=812, completion_tokens=420,
        cost=Decimal("0.000375"), latency_ms=2310,
    ),
    ContentFailed: ContentFailedPayload(
        campaign_id=CAMPAIGN, sequence=3, reason="moderation", message="flagged: violence"
    ),
    EmailSent: EmailSentPayload(
        **DELIVERY, message_id="<c.3.ada@acme.example>", smtp_reply="250 2.0.0 OK queued"
    ),
    EmailFailed: EmailFailedPayload(
        **DELIVERY, permanent=True, smtp_code=550, enhanced_code="5.1.1", reason="no such user"
    ),
    EmailOpened: EngagementRef(**DELIVERY, human=True),
    EmailClicked: EmailClickedPayload(**DELIVERY, url="https://acme.example/linen?utm=email"),
    RecipientUnsubscribed: RecipientUnsubscribedPayload(
        email="ada@example.com", campaign_id=CAMPAIGN
    ),
    EmailPerformance: EmailPerformancePayload(
        campaign_id=CAMPAIGN, sequence=3, structure="educational", delivered=1_000, bounced=4,
        opens=610, unique_opens=420, human_opens=300, unique_human_opens=210, clicks=95,
        unique_clicks=60, human_clicks=40, unique_human_clicks=31, unsubscribes=2,
        as_of=SEND_AT,
    ),
    ContactsChanged: ContactsChangedPayload(contacts=[ContactState(
        email="ada@example.com", name="Ada", fields={"company": "Engines"},
        timezone="Europe/London", language="en-GB", status="subscribed", changed_at=SEND_AT)]),
    ContactsDeleted: ContactsDeletedPayload(emails=["ada@example.com"]),
    ListMembersAdded: ListMembersPayload(list_id=AUDIENCE, emails=["ada@example.com"]),
    ListMembersRemoved: ListMembersPayload(list_id=AUDIENCE, emails=["ada@example.com"]),
    SuppressionAdded: SuppressionPayload(emails=["ada@example.com"], reason="manual"),
    SuppressionRemoved: SuppressionPayload(emails=["ada@example.com"], reason="manual"),
    ContactErased: ContactErasedPayload(email="ada@example.com"),
    TransactionalRequested: TransactionalPayload(
        message_id=CAMPAIGN, kind="confirmation", to="ada@example.com", subject="Confirm",
        body_html="<p>Confirm</p>", body_text="Confirm"),
    AbTestDecided: AbTestDecidedPayload(
        campaign_id=CAMPAIGN, sequence=3, winner="B", rule="probability", metric="clicks",
        decided_at=SEND_AT, results=[
            VariantResult(key="A", delivered=100, successes=2, rate=0.02, probability_best=0.01),
            VariantResult(key="B", delivered=100, successes=9, rate=0.09, probability_best=0.99),
        ]),
    ActivityRecorded: ActivityPayload(
        event_id=CAMPAIGN, email="ada@example.com", name="order.paid",
        properties={"total": 42.5, "currency": "EUR", "first": True}, occurred_at=SEND_AT),
    JourneyStepDue: JourneyStepDuePayload(
        campaign_id=CAMPAIGN, version=2, enrollment_id=CAMPAIGN, step_id="welcome",
        sequence=1, email="ada@example.com", send_at=SEND_AT),
    JourneyActionDue: JourneyActionPayload(
        campaign_id=CAMPAIGN, enrollment_id=CAMPAIGN, step_id="tag-buyer",
        email="ada@example.com", action="add_tag", tag="buyer"),
    JourneyProgress: JourneyProgressPayload(
        campaign_id=CAMPAIGN, version=2, as_of=SEND_AT,
        steps=[StepProgress(step_id="welcome", waiting=3, entered=10, exited={"goal": 2})]),
}


def sample(cls: type[Event]) -> Event:
    return cls.create(SAMPLES[cls], workspace_id=WORKSPACE)


def wire(event: Event, **changes: Any) -> str:
    """The event as JSON, with top-level fields replaced."""
    return json.dumps({**json.loads(event.model_dump_json()), **changes})


def test_every_event_type_has_a_sample() -> None:
    assert set(SAMPLES) == set(EVENT_TYPES.values())


@pytest.mark.parametrize("cls", list(EVENT_TYPES.values()), ids=list(EVENT_TYPES))
def test_every_event_round_trips_through_json(cls: type[Event]) -> None:
    event = sample(cls)

    parsed = parse_event(event.model_dump_json())

    assert type(parsed) is cls
    assert parsed == event
    assert parsed.type == cls.TYPE == parsed.subject
    assert parsed.version == cls.VERSION
    assert event_class_for(cls.TYPE) is cls


def test_parse_accepts_bytes() -> None:
    event = sample(EmailDue)

    assert parse_event(event.model_dump_json().encode()) == event


def test_an_unknown_type_is_rejected_naming_the_type() -> None:
    with pytest.raises(pydantic.ValidationError, match="'type'") as error:
        parse_event(wire(sample(CampaignPaused), type="campaign.renamed"))

    assert "campaign.renamed" in str(error.value)
    with pytest.raises(ValueError, match=r"type: unknown event type 'campaign\.renamed'"):
        event_class_for("campaign.renamed")


def test_a_missing_type_is_rejected() -> None:
    data = json.loads(sample(CampaignPaused).model_dump_json())
    del data["type"]

    with pytest.raises(pydantic.ValidationError, match="type"):
        parse_event(json.dumps(data))


def locations(error: pydantic.ValidationError) -> list[tuple[int | str, ...]]:
    return [tuple(e["loc"]) for e in error.errors()]


def test_an_extra_envelope_field_is_rejected_naming_it() -> None:
    with pytest.raises(pydantic.ValidationError) as error:
        parse_event(wire(sample(CampaignPaused), priority="high"))

    assert locations(error.value) == [("campaign.paused", "priority")]
    assert error.value.errors()[0]["type"] == "extra_forbidden"


def test_an_extra_payload_field_is_rejected_naming_it() -> None:
    event = sample(EmailDue)
    payload = {**json.loads(event.model_dump_json())["payload"], "priority": "high"}

    with pytest.raises(pydantic.ValidationError) as error:
        parse_event(wire(event, payload=payload))

    assert locations(error.value) == [("email.due", "payload", "priority")]


def test_a_payload_of_another_event_type_is_rejected() -> None:
    due = json.loads(sample(EmailDue).model_dump_json())["payload"]

    with pytest.raises(pydantic.ValidationError) as error:
        parse_event(wire(sample(CampaignPaused), payload=due))

    assert ("campaign.paused", "payload", "sequence") in locations(error.value)


def test_invalid_json_is_rejected() -> None:
    with pytest.raises(pydantic.ValidationError):
        parse_event(b"{not json")


def test_occurred_at_must_carry_a_time_zone() -> None:
    with pytest.raises(pydantic.ValidationError) as error:
        parse_event(wire(sample(CampaignPaused), occurred_at="2025-03-04T08:00:00"))

    assert locations(error.value) == [("campaign.paused", "occurred_at")]


def test_events_are_immutable() -> None:
    event = sample(CampaignPaused)

    with pytest.raises(pydantic.ValidationError):
        event.event_id = uuid.uuid4()  # type: ignore[misc]


# --- Schedule -------------------------------------------------------------------------------


def test_a_valid_schedule_keeps_its_fields() -> None:
    parsed = Schedule.model_validate(schedule())

    assert parsed.weekly_days == [2, 4]
    assert parsed.send_time == time(9, 0)
    assert parsed.start_at.utcoffset() == timedelta(hours=1)
    assert Schedule.model_validate(
        schedule(schedule_type="daily", weekly_days=[], total_months=None, total_emails=10)
    ).total_emails == 10


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"weekly_days": []}, "weekly_days", "at least one weekday"),
        ({"weekly_days": [2, 4, 2]}, "weekly_days", "must not repeat"),
        ({"weekly_days": [0]}, "weekly_days", "greater than or equal to 1"),
        ({"weekly_days": [8]}, "weekly_days", "less than or equal to 7"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "unknown IANA time zone"),
        ({"timezone": "../../etc/passwd"}, "timezone", "unknown IANA time zone"),
        ({"total_months": None, "total_emails": None}, "total_months",
         "give total_months or total_emails"),
        ({"total_months": 0}, "total_months", "greater than or equal to 1"),
        ({"start_at": "2025-03-03T00:00:00"}, "start_at", "timezone"),
        ({"schedule_type": "hourly"}, "schedule_type", "'daily' or 'weekly'"),
    ],
)
def test_an_invalid_schedule_is_rejected_naming_the_field(
    changes: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(pydantic.ValidationError, match=message) as error:
        Schedule.model_validate(schedule(**changes))

    assert field in str(error.value)


# --- Header safety and bounds ---------------------------------------------------------------


def generated(**changes: Any) -> dict[str, Any]:
    fields = SAMPLES[ContentGenerated].model_dump(mode="json")
    return {**fields, **changes}


@pytest.mark.parametrize("bad", ["Hello\r\nBcc: all@example.com", "Hi\nthere", "Hi\rthere",
                                 "nul\x00byte"])
@pytest.mark.parametrize("field", ["subject", "preheader"])
def test_subject_and_preheader_must_be_one_line(field: str, bad: str) -> None:
    with pytest.raises(pydantic.ValidationError) as error:
        ContentGeneratedPayload.model_validate(generated(**{field: bad}))

    assert locations(error.value) == [(field,)]


def test_campaign_names_must_be_one_line() -> None:
    for field in ("name", "from_name"):
        with pytest.raises(pydantic.ValidationError) as error:
            CampaignDefinition.model_validate(
                {**DEFINITION.model_dump(mode="json"), field: "Acme\r\nBcc: x@example.com"}
            )
        assert locations(error.value) == [(field,)]


def test_a_subject_is_never_empty() -> None:
    with pytest.raises(pydantic.ValidationError):
        ContentGeneratedPayload.model_validate(generated(subject=""))


@pytest.mark.parametrize(("field", "limit"), [("subject", 200), ("preheader", 300)])
def test_subject_and_preheader_have_their_declared_limits(field: str, limit: int) -> None:
    ContentGeneratedPayload.model_validate(generated(**{field: "x" * limit}))
    with pytest.raises(pydantic.ValidationError):
        ContentGeneratedPayload.model_validate(generated(**{field: "x" * (limit + 1)}))


def test_addresses_are_validated() -> None:
    with pytest.raises(pydantic.ValidationError) as error:
        AudienceMember(email="not-an-address")
    assert locations(error.value) == [("email",)]


def test_audience_events_are_bounded_in_size() -> None:
    members = [{"email": f"m{i}@example.com"} for i in range(MAX_MEMBERS_PER_EVENT + 1)]

    AudienceMembersAddedPayload.model_validate(
        {"audience_id": str(AUDIENCE), "members": members[:-1]}
    )
    with pytest.raises(pydantic.ValidationError) as error:
        AudienceMembersAddedPayload.model_validate({"audience_id": str(AUDIENCE),
                                                    "members": members})
    assert locations(error.value) == [("members",)]
    with pytest.raises(pydantic.ValidationError):
        AudienceMembersAddedPayload.model_validate({"audience_id": str(AUDIENCE), "members": []})


def test_an_audience_event_stays_under_the_message_limit() -> None:
    from contracts.events import MAX_PAYLOAD_BYTES, AudienceMembersAddedPayload

    fat = {"email": "someone@example.com", "fields": {f"f{i}": "x" * 1_000 for i in range(50)}}
    with pytest.raises(pydantic.ValidationError, match="bytes in one event"):
        AudienceMembersAddedPayload.model_validate(
            {"audience_id": "5b0c7c9e-3a4f-4d2b-9a57-1f2f3c6f8e10", "members": [fat] * 20}
        )
    lean = {"email": "someone@example.com"}
    payload = AudienceMembersAddedPayload.model_validate(
        {"audience_id": "5b0c7c9e-3a4f-4d2b-9a57-1f2f3c6f8e10", "members": [lean] * 500}
    )
    assert len(payload.model_dump_json()) < MAX_PAYLOAD_BYTES


# --- Why a delivery failed ------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "kind"), [
    ({"permanent": True, "smtp_code": 550, "enhanced_code": "5.1.1", "reason": "no user"},
     "bounced"),
    ({"permanent": True, "smtp_code": 552, "reason": "too big"}, "bounced"),
    ({"permanent": True, "reason": "to name: line breaks are not allowed"}, "invalid"),
    ({"permanent": True, "reason": SUPPRESSED_REASON}, "suppressed"),
    ({"permanent": False, "smtp_code": 451, "reason": "gave up after 6 attempts"}, "expired"),
    ({"permanent": False, "reason": "gave up after 6 attempts: no answer"}, "expired"),
    # A kind the sender names is kept.
    ({"permanent": True, "reason": "suppressed", "kind": "invalid"}, "invalid"),
])
def test_a_failure_says_what_kind_it_is(fields: dict[str, Any], kind: str) -> None:
    payload = EmailFailedPayload(campaign_id=uuid.uuid4(), sequence=1,
                                 recipient="ann@example.com", **fields)
    assert payload.kind == kind
    # And the kind travels with it.
    assert EmailFailedPayload.model_validate_json(payload.model_dump_json()) == payload


# --- The structure's choice -------------------------------------------------------------------


def test_content_generated_carries_why_its_structure_was_chosen_and_parses_without() -> None:
    choice = {"rule": "thompson", "arm": "educational", "seed": 2**64 - 1, "arms": [
        {"arm": "educational", "alpha": 12.0, "beta": 90.0, "mean": 0.1176, "sample": 0.13},
        {"arm": "promotional", "alpha": 2.5, "beta": 98.5, "mean": 0.0248, "sample": 0.02},
    ]}
    payload = ContentGeneratedPayload.model_validate(generated(structure_choice=choice))
    assert payload.structure_choice is not None
    assert payload.structure_choice.model_dump(mode="json") == choice
    fields = generated()
    fields.pop("structure_choice", None)
    assert ContentGeneratedPayload.model_validate(fields).structure_choice is None


def test_a_structure_choice_with_an_unknown_rule_is_rejected_naming_the_field() -> None:
    choice = {"rule": "whim", "arm": "educational", "seed": 1, "arms": []}
    with pytest.raises(pydantic.ValidationError) as error:
        ContentGeneratedPayload.model_validate(generated(structure_choice=choice))
    assert locations(error.value) == [("structure_choice", "rule")]
