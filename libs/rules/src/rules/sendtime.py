"""Per-contact send time: when a contact's copy of an email is due. Pure, no I/O.

An email of a campaign has a local date: the date, in the campaign's zone, whose send slot
`send_at` is (`email_date`). With per-contact time, a contact's copy is due at `send_time` on
that date in the contact's own zone, the campaign's where the contact has none or one this
machine's zone data does not know (`contact_due`). Daylight saving is treated as the cadence
treats it for the scheduler (`rules.cadence.resolve_local`): a send time inside a gap moves
forward by the gap, one that occurs twice is sent at its first occurrence. A contact in the
campaign's zone is therefore due exactly at the campaign's `send_at`.

No zone is ahead of UTC by more than 14 hours (Pacific/Kiritimati), so nobody's copy of a local
date is due before `earliest_due`: the content is written ahead of that instant.

With send-time optimisation a contact's copy is due at their own preferred hour of the email's
weekday (`contact_send_time`; learned by campaign-api), in their zone, on the email's local
date: anyone may be due from that date's first hour (`FIRST_HOUR`) on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from rules.cadence import resolve_local

# The largest UTC offset any zone has had since 1900 (Kiritimati, and Samoa since 2011).
MAX_UTC_OFFSET = timedelta(hours=14)
# The earliest a preferred hour can be: a local date's first.
FIRST_HOUR = time(0)
_ONE_DAY = timedelta(days=1)


@cache
def known_zones() -> frozenset[str]:
    """Every IANA zone name this machine's zone data has: the zones a contact may be in."""
    return frozenset(available_timezones())


def contact_zone(zone: str | None, campaign_zone: str) -> str:
    """The zone a contact's send time is reckoned in."""
    return zone if zone is not None and zone in known_zones() else campaign_zone


def email_date(send_at: datetime, send_time: time, campaign_zone: str) -> date:
    """The local date in the campaign's zone that the email sent at `send_at` belongs to.

    Usually `send_at`'s own date there; but a send time pushed over midnight by a gap belongs
    to the date before, as the cadence counts it.
    """
    zone = ZoneInfo(campaign_zone)
    day = send_at.astimezone(zone).date()
    before = day - _ONE_DAY
    if resolve_local(before, send_time, zone).astimezone(UTC) == send_at.astimezone(UTC):
        return before
    return day


def due_at(day: date, send_time: time, zone: str) -> datetime:
    """`send_time` on local date `day` in `zone`, as an aware UTC datetime."""
    return resolve_local(day, send_time, ZoneInfo(zone)).astimezone(UTC)


def contact_due(
    day: date, send_time: time, zone: str | None, campaign_zone: str
) -> datetime:
    """When a contact in `zone` (None: none given) receives the email of local date `day`."""
    return due_at(day, send_time, contact_zone(zone, campaign_zone))


def earliest_due(day: date, send_time: time) -> datetime:
    """No contact anywhere is due earlier for local date `day`: `send_time` at UTC+14.

    A gap only moves a send time later, so the bound holds on daylight-saving days too.
    """
    return datetime.combine(day, send_time, tzinfo=UTC) - MAX_UTC_OFFSET


def due_groups(day: date, send_time: time) -> list[tuple[datetime, tuple[str, ...]]]:
    """Every known zone grouped by the instant `send_time` on `day` falls there, earliest
    first: the contacts of one group are due together, whichever list they are on."""
    groups: defaultdict[datetime, list[str]] = defaultdict(list)
    for zone in known_zones():
        groups[due_at(day, send_time, zone)].append(zone)
    return [(at, tuple(sorted(zones))) for at, zones in sorted(groups.items())]


def contact_send_time(day: date, send_time: time, send_hours: Sequence[int] | None) -> time:
    """With send-time optimisation, when on local date `day` a contact is due: their preferred
    hour of its weekday (`send_hours`: Monday..Sunday) o'clock, `send_time` without any."""
    if send_hours is None:
        return send_time
    return time(send_hours[day.weekday()])


def first_due(
    send_at: datetime, send_time: time, campaign_zone: str, *, per_contact_time: bool,
    send_time_optimization: bool = False,
) -> datetime:
    """The first instant anyone is due for the email sent at `send_at`: what its content is
    written ahead of. Without per-contact time that is `send_at`; with it, the earliest due of
    the email's local date, and never after `send_at` itself; with send-time optimisation
    the date's `FIRST_HOUR` at UTC+14, as anyone's preferred hour may be that early."""
    if not (per_contact_time or send_time_optimization):
        return send_at
    day = email_date(send_at, send_time, campaign_zone)
    earliest = FIRST_HOUR if send_time_optimization else send_time
    return min(send_at, earliest_due(day, earliest))
