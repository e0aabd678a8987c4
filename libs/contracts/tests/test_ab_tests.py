"""A/B test settings, variants and decisions: bounded, validated by field, and old events
without them still parse."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pydantic
import pytest

from contracts import AbTest, ContentGenerated, EmailSent, EmailVariant, parse_event
from contracts.ab_tests import BUCKETS
from contracts.events import ContentGeneratedPayload, EmailSentPayload

CAMPAIGN = uuid.UUID("6f1d2c1e-4b0a-4c55-9d1e-0d6a1a7b9c01")
SEND_AT = datetime(2025, 3, 4, 8, 0, tzinfo=UTC)


def _content(**changes: object) -> ContentGeneratedPayload:
    values: dict[str, object] = {
        "campaign_id": CAMPAIGN, "sequence": 2, "send_at": SEND_AT, "subject": "Hello",
        "body_html": "<p>Hi</p>", "body_text": "Hi", "model": "m", "provider": "p",
    }
    return ContentGeneratedPayload.model_validate(values | changes)


def test_a_test_defaults_to_two_subject_variants_on_ten_percent_each_for_four_hours() -> None:
    test = AbTest()

    assert (test.variants, test.kind, test.metric) == (2, "subject", "clicks")
    assert test.slice_buckets == BUCKETS // 10
    assert test.window_minutes == 240
    assert test.tests(1)
    assert test.tests(17)


def test_a_test_of_some_emails_tests_only_those() -> None:
    test = AbTest(sequences=[2, 5])

    assert [k for k in range(1, 7) if test.tests(k)] == [2, 5]


@pytest.mark.parametrize(("values", "field"), [
    ({"variants": 5}, "variants"),
    ({"variants": 1}, "variants"),
    ({"slice_percent": 0}, "slice_percent"),
    ({"variants": 3, "slice_percent": 40}, "slice_percent"),
    ({"metric": "revenue"}, "metric"),
    ({"kind": "body"}, "kind"),
    ({"window_minutes": 0}, "window_minutes"),
    ({"sequences": [0]}, "sequences"),
    ({"sequences": [2, 2]}, "sequences"),
])
def test_an_invalid_test_is_refused_naming_the_field(values: dict[str, object], field: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        AbTest.model_validate(values)

    assert field in str(caught.value)


def test_content_of_a_tested_email_carries_its_variants_in_key_order() -> None:
    variants = [EmailVariant(key="A", subject="Hello"), EmailVariant(key="B", subject="Hi there")]

    payload = _content(ab_test=AbTest(), variants=variants)

    assert [v.key for v in payload.variants] == ["A", "B"]


@pytest.mark.parametrize(("keys", "with_test"), [(["B", "A"], True), (["A", "C"], True),
                                                 (["A", "B"], False)])
def test_variants_out_of_order_or_without_a_test_are_refused(
    keys: list[str], with_test: bool
) -> None:
    variants = [{"key": k, "subject": f"S {k}"} for k in keys]

    with pytest.raises(pydantic.ValidationError, match="variants"):
        _content(ab_test=AbTest() if with_test else None, variants=variants)


def test_events_written_before_tests_still_parse_as_untested() -> None:
    event = ContentGenerated.create(_content(), workspace_id=uuid.uuid4())
    wire = json.loads(event.model_dump_json())
    del wire["payload"]["ab_test"], wire["payload"]["variants"]

    parsed = parse_event(json.dumps(wire))

    assert isinstance(parsed, ContentGenerated)
    assert parsed.payload.ab_test is None
    assert parsed.payload.variants == []


def test_a_sent_email_names_its_variant_and_an_old_one_none() -> None:
    sent = EmailSent.create(EmailSentPayload(campaign_id=CAMPAIGN, sequence=2,
                                             recipient="ada@example.com", message_id="<m@x>",
                                             variant="B"), workspace_id=uuid.uuid4())
    wire = json.loads(sent.model_dump_json())
    assert wire["payload"]["variant"] == "B"
    del wire["payload"]["variant"]

    parsed = parse_event(json.dumps(wire))

    assert isinstance(parsed, EmailSent)
    assert parsed.payload.variant is None
