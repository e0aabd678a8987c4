"""An enrollment walked through its journey's steps at a moment: what it emits, where it
waits and until when, which way its branches go, and when it leaves."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import JourneyGraph, SendWindow
from rules.journey_steps import Facts
from scheduler.journey_domain import Contact, Emit, Enrollment, Outcome, advance

T0 = datetime(2030, 1, 7, 9, tzinfo=UTC)  # a Monday
SEGMENT = uuid.UUID(int=7)
ZONE = "Europe/Berlin"


def graph(condition: dict[str, Any] | None = None, **extra: Any) -> JourneyGraph:
    """email 1, wait 2 minutes, `condition`? email 2a then a tag : email 2b; exit."""
    return JourneyGraph.model_validate({
        "trigger": {"type": "event_received", "name": "signed_up"},
        "start": "email-1",
        "steps": [
            {"type": "email", "id": "email-1", "goal": "Hello", "next": "wait-1", "sequence": 1},
            {"type": "wait", "id": "wait-1", "until": {"kind": "duration", "seconds": 120},
             "next": "branch-1"},
            {"type": "branch", "id": "branch-1",
             "condition": condition or {"kind": "clicked", "step": "email-1",
                                        "within_seconds": 600},
             "then": "email-2a", "else": "email-2b"},
            {"type": "email", "id": "email-2a", "goal": "Thanks", "next": "tag", "sequence": 2},
            {"type": "email", "id": "email-2b", "goal": "Nudge", "next": "done", "sequence": 3},
            {"type": "action", "id": "tag", "action": "add_tag", "tag": "engaged",
             "next": "done"},
            {"type": "exit", "id": "done"},
        ],
        **extra,
    })


def at(step: str, reached: datetime = T0, entered: datetime = T0) -> Enrollment:
    return Enrollment(uuid.UUID(int=1), step, entered, reached)


def walk(g: JourneyGraph, e: Enrollment, now: datetime, *, contact: Contact | None = None,
         facts: Facts | None = None, window: SendWindow | None = None) -> Outcome:
    return advance(g, e, contact or Contact(), facts or Facts(), now=now, zone=ZONE,
                   window=window)


def test_an_entry_emits_its_first_email_and_waits_out_the_duration_from_then() -> None:
    out = walk(graph(), at("email-1"), T0)
    assert out.emits == (Emit("email-1", "email", 1, T0),)
    assert (out.step_id, out.step_entered_at) == ("wait-1", T0)
    assert out.due_at == T0 + timedelta(minutes=2)
    assert out.ended is None


def test_a_wait_not_yet_up_holds_where_it_is() -> None:
    out = walk(graph(), at("wait-1"), T0 + timedelta(seconds=119))
    assert out == Outcome("wait-1", T0, (), T0 + timedelta(minutes=2))


def test_a_branch_on_a_click_waits_for_its_window_then_goes_else_at_the_deadline() -> None:
    pending = walk(graph(), at("wait-1"), T0 + timedelta(minutes=3))
    deadline = T0 + timedelta(minutes=12)
    assert (pending.step_id, pending.step_entered_at, pending.due_at) == (
        "branch-1", T0 + timedelta(minutes=2), deadline)
    late = walk(graph(), at("branch-1", T0 + timedelta(minutes=2)), deadline + timedelta(hours=1))
    # Reached at the deadline, not when the loop came round: its email keeps the journey's time.
    assert late.emits == (Emit("email-2b", "email", 3, deadline),)
    assert late.ended == "end"


def test_a_click_within_the_window_takes_then_and_the_action_after_it() -> None:
    clicked = Facts(clicked={"email-1": T0 + timedelta(minutes=5)})
    now = T0 + timedelta(minutes=6)
    out = walk(graph(), at("branch-1", T0 + timedelta(minutes=2)), now, facts=clicked)
    assert out.emits == (Emit("email-2a", "email", 2, now), Emit("tag", "action"))
    assert out.ended == "end"


def test_a_click_after_the_window_does_not_count() -> None:
    clicked = Facts(clicked={"email-1": T0 + timedelta(minutes=30)})
    out = walk(graph(), at("branch-1", T0 + timedelta(minutes=2)), T0 + timedelta(hours=1),
               facts=clicked)
    assert [e.step_id for e in out.emits] == ["email-2b"]


@pytest.mark.parametrize(("condition", "contact", "way"), [
    ({"kind": "tag", "tag": "vip"}, Contact(tags={"vip"}), "email-2a"),
    ({"kind": "tag", "tag": "vip"}, Contact(), "email-2b"),
    ({"kind": "field", "field": "plan", "op": "equals", "value": "pro"},
     Contact(fields={"plan": "pro"}), "email-2a"),
    ({"kind": "segment", "segment_id": str(SEGMENT)}, Contact(segments={SEGMENT}), "email-2a"),
    ({"kind": "segment", "segment_id": str(SEGMENT)}, Contact(), "email-2b"),
])
def test_a_branch_on_the_contact_is_decided_when_reached(
        condition: dict[str, Any], contact: Contact, way: str) -> None:
    reached = T0 + timedelta(minutes=2)
    out = walk(graph(condition), at("branch-1", reached), reached, contact=contact)
    assert out.emits[0] == Emit(way, "email", 2 if way == "email-2a" else 3, reached)


def test_an_event_branch_goes_then_on_an_event_received_since_entry() -> None:
    condition = {"kind": "event", "name": "order.paid", "within_seconds": 3600}
    facts = Facts(events={"order.paid": T0 + timedelta(minutes=1)})
    out = walk(graph(condition), at("branch-1", T0 + timedelta(minutes=2)),
               T0 + timedelta(minutes=3), facts=facts)
    assert out.emits[0].step_id == "email-2a"


def test_a_goal_met_ends_the_enrollment_before_any_step() -> None:
    g = graph(exit_on=[{"kind": "event", "name": "order.paid"}])
    out = walk(g, at("wait-1"), T0 + timedelta(hours=1),
               facts=Facts(events={"order.paid": T0}))
    assert out == Outcome("wait-1", T0, (), None, "goal")


def test_a_goal_link_clicked_ends_the_enrollment() -> None:
    g = graph(exit_on=[{"kind": "link_clicked", "url": "https://shop.example/buy"}])
    facts = Facts(links={("email-1", "https://shop.example/buy"): T0})
    assert walk(g, at("wait-1"), T0, facts=facts).ended == "goal"


@pytest.mark.parametrize(("contact", "reason"), [
    (Contact(status="unsubscribed"), "unsubscribed"),
    (Contact(status="bounced"), "unsubscribed"),
    (Contact(suppressed=True), "suppressed"),
])
def test_a_contact_who_must_leave_exits_without_an_email(contact: Contact, reason: str) -> None:
    out = walk(graph(), at("email-1"), T0, contact=contact)
    assert (out.emits, out.ended) == ((), reason)


def test_an_email_outside_the_send_window_goes_at_its_next_opening_in_the_contacts_zone() -> None:
    window = SendWindow.model_validate({"start": "08:00", "end": "20:00"})
    late = datetime(2030, 1, 7, 21, tzinfo=UTC)  # 22:00 in Berlin, 16:00 in New York
    berlin = walk(graph(), at("email-1", late, late), late, window=window)
    assert berlin.emits[0].send_at == datetime(2030, 1, 8, 7, tzinfo=UTC)
    new_york = walk(graph(), at("email-1", late, late), late, window=window,
                    contact=Contact(timezone="America/New_York"))
    assert new_york.emits[0].send_at == late


def test_a_weekday_wait_is_up_at_the_next_such_day_in_the_contacts_zone() -> None:
    g = JourneyGraph.model_validate({
        "trigger": {"type": "event_received", "name": "x"}, "start": "w",
        "steps": [{"type": "wait", "id": "w", "next": "done",
                   "until": {"kind": "weekday", "weekdays": [3], "at": "10:00"}},
                  {"type": "exit", "id": "done"}]})
    out = walk(g, at("w"), T0)
    assert out.due_at == datetime(2030, 1, 9, 9, tzinfo=UTC)  # Wednesday 10:00 in Berlin
    assert walk(g, at("w"), datetime(2030, 1, 9, 9, tzinfo=UTC)).ended == "end"


def test_an_email_step_without_its_content_number_is_refused() -> None:
    g = graph()
    unsaved = g.model_copy(update={"steps": [s.model_copy(update={"sequence": None})
                                             if s.id == "email-1" else s for s in g.steps]})
    with pytest.raises(ValueError, match="email-1"):
        walk(unsaved, at("email-1"), T0)
