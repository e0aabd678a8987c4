"""The scheduler's own decisions: what to do with a slot that has fallen due, and when to
publish a fresh plan. Pure, no I/O.

The cadence rules themselves (which local dates and times a campaign's emails go out) are
`rules.cadence`, shared with the dashboard's preview; docs/architecture.md, "Scheduling
semantics", documents them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts import Schedule
from rules.cadence import Rule, slot_after
from rules.sendtime import first_due


def due_time(schedule: Schedule, send_at: datetime, lead: timedelta) -> datetime:
    """When the email sent at `send_at` is due to be written: the lead time before the first
    contact's due time, which with per-contact time is the send time in the zone furthest
    ahead on the email's local date, with send-time optimisation that date's first hour there
    (events keep `send_at`, the campaign's zone's time)."""
    return first_due(send_at, schedule.send_time, schedule.timezone,
                     per_contact_time=schedule.per_contact_time,
                     send_time_optimization=schedule.send_time_optimization) - lead


@dataclass(frozen=True)
class Decision:
    """What to do with a schedule whose next email has fallen due."""

    emit: bool  # send email `sequence`
    skipped: bool  # missed by more than the catch-up window: record it, do not send


def on_due(send_at: datetime, now: datetime, catch_up_window: timedelta) -> Decision:
    late = now - send_at
    if late > catch_up_window:
        return Decision(emit=False, skipped=True)
    return Decision(emit=True, skipped=False)


# How many send times the product shows as a campaign's plan.
PLAN_LENGTH = 5
# How many send times one campaign.scheduled carries: the product shows the first
# PLAN_LENGTH still ahead, so a plan stays good for about PLAN_WINDOW - PLAN_LENGTH emails
# and the tick publishes a fresh one only then, not with every email.
PLAN_WINDOW = 30


@dataclass(frozen=True)
class Advance:
    """A due schedule after its slot was handled: emitted (or skipped), then moved on."""

    emitted: bool  # email `sequence` goes out; False: the slot was skipped
    next_sequence: int
    next_slot: int
    next_send_at: datetime | None  # None: the campaign is complete


def advance(
    rule: Rule, *, sequence: int, slot: int, send_at: datetime, total: int, now: datetime,
    catch_up_window: timedelta,
) -> Advance:
    """Handle slot `slot` (at `send_at`, carrying email `sequence` of `total`) at `now`."""
    emitted = on_due(send_at, now, catch_up_window).emit
    next_sequence = sequence + 1 if emitted else sequence
    following = slot_after(rule, send_at, slot) if next_sequence <= total else None
    return Advance(emitted, next_sequence, slot + 1, following)


def needs_new_plan(*, next_slot: int, planned_until: int, emails_left: int) -> bool:
    """Whether the last published plan shows fewer upcoming send times than it should:
    slots up to `planned_until` were published; `emails_left` are still to be sent."""
    known = max(0, planned_until - next_slot + 1)
    return known < min(PLAN_LENGTH, emails_left)
