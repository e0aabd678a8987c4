"""Contact, list and suppression events: bounded, and strict about what they carry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time

import pydantic
import pytest

from contracts import AudienceTargets, Schedule, SendWindow
from contracts.contacts import ContactsChangedPayload, ContactState, ListMembersPayload
from contracts.types import MAX_MEMBERS_PER_EVENT

NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)


def test_a_contact_names_a_real_time_zone_and_a_language_tag() -> None:
    ContactState(email="a@example.com", timezone="Asia/Tokyo", language="pt-BR", changed_at=NOW)
    with pytest.raises(pydantic.ValidationError, match="timezone"):
        ContactState(email="a@example.com", timezone="Mars/Olympus", changed_at=NOW)
    with pytest.raises(pydantic.ValidationError, match="language"):
        ContactState(email="a@example.com", language="english please", changed_at=NOW)


def test_a_contacts_send_hours_are_one_hour_of_the_day_per_weekday_or_none() -> None:
    assert ContactState(email="a@example.com", changed_at=NOW).send_hours is None
    hours = [19, 19, 19, 19, 19, 10, 10]
    assert ContactState(email="a@example.com", send_hours=hours, changed_at=NOW
                        ).send_hours == hours
    with pytest.raises(pydantic.ValidationError, match="send_hours"):
        ContactState(email="a@example.com", send_hours=[19] * 6, changed_at=NOW)
    with pytest.raises(pydantic.ValidationError, match="send_hours"):
        ContactState(email="a@example.com", send_hours=[24] * 7, changed_at=NOW)


def test_a_contacts_event_carries_at_most_one_batch() -> None:
    contacts = [ContactState(email=f"c{i}@example.com", changed_at=NOW)
                for i in range(MAX_MEMBERS_PER_EVENT + 1)]
    with pytest.raises(pydantic.ValidationError, match="contacts"):
        ContactsChangedPayload(contacts=contacts)


def test_a_contacts_event_is_bounded_in_bytes_too() -> None:
    big = {f"f{i}": "x" * 1_000 for i in range(50)}
    contacts = [ContactState(email=f"c{i}@example.com", fields=big, changed_at=NOW)
                for i in range(20)]
    with pytest.raises(pydantic.ValidationError, match="bytes in one event"):
        ContactsChangedPayload(contacts=contacts)


def test_a_list_change_names_its_list_and_at_least_one_address() -> None:
    with pytest.raises(pydantic.ValidationError, match="emails"):
        ListMembersPayload(list_id=uuid.uuid4(), emails=[])


def test_a_send_window_is_not_empty_and_may_span_midnight() -> None:
    assert SendWindow(start=time(22), end=time(6)).weekdays == [1, 2, 3, 4, 5, 6, 7]
    with pytest.raises(pydantic.ValidationError, match=r"send_window\.end"):
        SendWindow(start=time(9), end=time(9))
    with pytest.raises(pydantic.ValidationError, match="weekdays"):
        SendWindow.model_validate({"start": "09:00", "end": "17:00", "weekdays": [1, 1]})


def test_a_schedule_may_send_in_each_contacts_time_zone_within_a_window() -> None:
    schedule = Schedule.model_validate({
        "schedule_type": "daily", "total_emails": 3, "start_at": "2026-12-03T09:00:00Z",
        "per_contact_time": True, "send_window": {"start": "08:00", "end": "18:00"}})
    assert schedule.per_contact_time
    assert schedule.send_window == SendWindow(start=time(8), end=time(18))


def test_a_schedule_may_send_at_each_contacts_preferred_hour() -> None:
    schedule = Schedule.model_validate({
        "schedule_type": "daily", "total_emails": 3, "start_at": "2026-12-03T09:00:00Z",
        "send_time_optimization": True})
    assert schedule.send_time_optimization
    assert not Schedule.model_validate({
        "schedule_type": "daily", "total_emails": 3, "start_at": "2026-12-03T09:00:00Z",
    }).send_time_optimization


def test_targets_default_to_the_campaigns_own_list_only() -> None:
    assert AudienceTargets() == AudienceTargets(include=[], exclude=[])
