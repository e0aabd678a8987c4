"""Time-zone cases for property tests of the time rules: every zone this machine knows, the
instants near which a zone's offset changes (where daylight-saving gaps and folds are), and
dateutil's reading of a local time as the rules document it, a second implementation of the
same IANA data, so that a rule is never checked against itself."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from dateutil import tz as dtz
from hypothesis import strategies as st

from rules.sendtime import known_zones

ZONES = sorted(known_zones())
CLOCKS = st.builds(time, st.integers(0, 23), st.sampled_from([0, 1, 15, 30, 45, 59]))
WEEKDAYS = st.lists(st.integers(1, 7), min_size=1, max_size=7, unique=True)


@cache
def transitions(zone_name: str) -> tuple[datetime, ...]:
    """Instants in 2020-2030 near which the zone's offset changes."""
    zone = ZoneInfo(zone_name)
    found: list[datetime] = []
    moment = datetime(2020, 1, 1, tzinfo=UTC)
    before = moment.astimezone(zone).utcoffset()
    while moment.year < 2031:
        moment += timedelta(hours=6)
        offset = moment.astimezone(zone).utcoffset()
        if offset != before:
            found.append(moment)
        before = offset
    return tuple(found)


@st.composite
def zone_instants(draw: st.DrawFn) -> tuple[str, datetime]:
    """A zone and an instant, often within two days of one of that zone's offset changes."""
    zone = draw(st.sampled_from(ZONES))
    shifts = transitions(zone)
    if draw(st.booleans()) and shifts:
        near = draw(st.sampled_from(shifts))
        return zone, near + timedelta(minutes=draw(st.integers(-2 * 1440, 2 * 1440)))
    moment = draw(st.datetimes(datetime(2020, 1, 3), datetime(2030, 12, 28)))
    return zone, moment.replace(tzinfo=UTC)


@st.composite
def zone_days(draw: st.DrawFn) -> tuple[str, date]:
    """A zone and a local date there, often a day on which that zone's offset changes."""
    zone = draw(st.sampled_from(ZONES))
    shifts = transitions(zone)
    if draw(st.booleans()) and shifts:
        day = draw(st.sampled_from(shifts)).astimezone(ZoneInfo(zone)).date()
        return zone, day + timedelta(days=draw(st.integers(-1, 1)))
    return zone, draw(st.dates(date(2020, 1, 2), date(2030, 12, 30)))


def documented_instant(day: date, clock: time, zone_name: str) -> datetime:
    """`clock` on `day` as documented: moved forward by a gap, the first of two occurrences."""
    wall = datetime.combine(day, clock).replace(tzinfo=dtz.gettz(zone_name))
    if not dtz.datetime_exists(wall):
        return dtz.resolve_imaginary(wall).astimezone(UTC)
    return min(wall.replace(fold=0).astimezone(UTC), wall.replace(fold=1).astimezone(UTC))
