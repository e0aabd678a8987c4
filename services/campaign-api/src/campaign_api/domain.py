"""Pure rules of the gateway: API keys, campaign requests, status transitions. No I/O."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, time
from zoneinfo import ZoneInfo

KEY_PREFIX = "cb_"

STATUSES = ("active", "paused", "cancelled", "completed")

WEEKDAY_NAMES = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """Only this hash is stored; a 256-bit random key needs no slow hash or salt."""
    return hashlib.sha256(key.encode()).hexdigest()


def weekday_number(value: int | str) -> int:
    """ISO weekday from 1..7 or a name such as "tue" / "Tuesday"."""
    if isinstance(value, int):
        return value
    key = value.strip().lower()[:3]
    if key not in WEEKDAY_NAMES:
        raise ValueError(f"{value!r} is not a weekday; use 1-7 or mon..sun")
    return WEEKDAY_NAMES[key]


def localise(moment: datetime, zone: str) -> datetime:
    """A start given without an offset means wall-clock time in the campaign's zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))


def starts_now(start_at: datetime | None, now: datetime) -> bool:
    """A campaign whose start is not in the future sends its first email right away."""
    return start_at is None or start_at <= now


def default_send_time() -> time:
    return time(9, 0)
