"""The campaign form: what the browser posts, turned into the API's request models.

A form is a flat list of strings; this module gives it the shape of `CampaignCreate` or
`CampaignUpdate` and turns validation errors into messages per form field, so a rejected form
comes back filled in with each message under its input.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import getaddresses
from functools import lru_cache
from typing import Any, TypeVar

import pydantic

from campaign_api.dashboard.wording import plain
from campaign_api.schemas import CampaignCreate, CampaignDetail, CampaignUpdate, FieldError
from campaign_api.validation import Loc, locate, named
from rules.cadence import Draft
from rules.schedule import DEFAULT_SEND_TIME, check_schedule, local_time
from rules.weekdays import ABBREVIATIONS

M = TypeVar("M", bound=pydantic.BaseModel)

WEEKDAYS = tuple((str(number), name) for number, name in enumerate(ABBREVIATIONS, start=1))
MODELS = ("openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-sonnet-4",
          "google/gemini-2.5-flash", "meta-llama/llama-3.3-70b-instruct")
MAX_RECIPIENT_LINES = 10_000
# The form's multiple choices of lists and segments, and how many of each the API takes.
AUDIENCE_CHOICES = ("target_lists", "exclude_lists", "target_segments", "exclude_segments")
MAX_TARGETS = 50

# API field -> the form input that shows its error.
_INPUT_OF = {"audience": "target_lists", "description": "brief", "ai_agent_id": "model",
             "recipient_emails": "recipients", "recipients": "recipients",
             "total_emails": "duration", "total_months": "duration", "start_at": "start_date",
             "weekly_days": "weekly_days"}


# Valid values put in place of a field that failed, so that the checks behind it run too.
_STAND_INS: dict[str, Any] = {
    "name": "-", "schedule_type": "daily", "weekly_days": [1], "weekly_emails": None,
    "total_emails": 1, "total_months": 1, "send_time": None, "timezone": "UTC",
    "ai_agent_id": MODELS[0], "from_name": "", "from_email": None, "start_at": None,
    "recipients": [{"email": "stand-in@example.com"}],
    "recipient_emails": ["stand-in@example.com"], "description": "", "brand_voice": "",
    "audience_description": "", "audience": {},
}


@lru_cache(maxsize=1)
def time_zones() -> list[str]:
    return sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC")


@dataclass
class CampaignForm:
    """The form's values as strings, as the browser sent (or will show) them."""

    name: str = ""
    brief: str = ""
    brand_voice: str = ""
    audience_description: str = ""
    schedule_type: str = "weekly"
    weekly_days: list[str] = field(default_factory=lambda: ["2", "4"])
    weekly_emails: str = ""
    duration: str = "12"
    duration_unit: str = "emails"
    start_date: str = ""
    send_time: str = "09:00"
    timezone: str = "UTC"
    # The checkbox: sent (as "on") only when ticked.
    send_time_optimization: str = ""
    model: str = MODELS[0]
    from_name: str = ""
    from_email: str = ""
    recipients: str = ""
    # The lists and segments it targets, and those whose members it leaves out (ids).
    target_lists: list[str] = field(default_factory=list)
    exclude_lists: list[str] = field(default_factory=list)
    target_segments: list[str] = field(default_factory=list)
    exclude_segments: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, str], days: list[str],
                     chosen: Mapping[str, list[str]] | None = None) -> CampaignForm:
        """`chosen`: the multiple choices by name (AUDIENCE_CHOICES), as the browser sent them."""
        known = {f for f in cls.__dataclass_fields__
                 if f not in ("weekly_days", "errors", *AUDIENCE_CHOICES)}
        values: dict[str, Any] = {k: str(v).strip() if k != "recipients" else str(v)
                  for k, v in data.items() if k in known}
        picks: dict[str, Any] = {k: list(dict.fromkeys(v))[:MAX_TARGETS]
                 for k, v in (chosen or {}).items() if k in AUDIENCE_CHOICES}
        return cls(weekly_days=[d for d in days if d in dict(WEEKDAYS)], **values, **picks)

    @classmethod
    def from_campaign(cls, c: CampaignDetail) -> CampaignForm:
        by_months = c.total_months is not None and c.total_emails is None
        return cls(
            name=c.name, brief=c.description, brand_voice=c.brand_voice,
            audience_description=c.audience_description, schedule_type=c.schedule_type,
            weekly_days=[str(d) for d in c.weekly_days],
            weekly_emails=str(c.weekly_emails or ""),
            duration=str((c.total_months if by_months else c.total_emails) or ""),
            duration_unit="months" if by_months else "emails",
            send_time=c.send_time.strftime("%H:%M"), timezone=c.timezone,
            send_time_optimization="on" if c.send_time_optimization else "",
            model=c.ai_agent_id,
            from_name=c.from_name, from_email=c.from_email or "",
            target_lists=[str(i) for i in c.audience.lists],
            exclude_lists=[str(i) for i in c.audience.exclude_lists],
            target_segments=[str(i) for i in c.audience.segments],
            exclude_segments=[str(i) for i in c.audience.exclude_segments],
        )

    # -- conversion ------------------------------------------------------------------------

    def _schedule(self) -> dict[str, Any]:
        weekly = self.schedule_type == "weekly"
        by_months = self.duration_unit == "months"
        return {
            "schedule_type": self.schedule_type,
            "weekly_days": [int(d) for d in self.weekly_days] if weekly else [],
            "weekly_emails": _number(self.weekly_emails) if weekly else None,
            "total_months": _number(self.duration) if by_months else None,
            "total_emails": None if by_months else _number(self.duration),
            "send_time": self.send_time or None,
            "timezone": self.timezone or "UTC",
            "send_time_optimization": bool(self.send_time_optimization),
        }

    def _content(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.brief, "brand_voice": self.brand_voice,
                "audience_description": self.audience_description, "ai_agent_id": self.model,
                "from_name": self.from_name, "from_email": self.from_email or None}

    def _audience(self) -> dict[str, list[str]]:
        """The targets as the API takes them (an id that is not one is the API's to refuse)."""
        return {"lists": self.target_lists, "exclude_lists": self.exclude_lists,
                "segments": self.target_segments, "exclude_segments": self.exclude_segments}

    def to_create(self) -> CampaignCreate | None:
        """The request, or None with `errors` filled in."""
        body = self._content() | self._schedule() | {"recipients": self._recipients(),
                                                     "audience": self._audience()}
        if self.start_date:
            body["start_at"] = f"{self.start_date}T00:00:00"
        return self._validate(CampaignCreate, body)

    def to_update(self) -> CampaignUpdate | None:
        schedule = self._schedule()
        result = self._validate(CampaignUpdate, self._content() | schedule
                                | {"audience": self._audience()})
        # A change is checked against the stored campaign only once it is valid by itself; the
        # edit form holds the whole schedule, so the rules across its fields run now, with the
        # others, instead of in a second round.
        values = {name: schedule[name] for name in
                  ("schedule_type", "weekly_days", "total_months", "total_emails")}

        def check(attempt: dict[str, Any]) -> set[str]:
            try:
                check_schedule(**attempt)
            except ValueError as exc:  # one at a time, so a stand-in lets the next one run
                loc, message = named((), str(exc), CampaignUpdate)
                # Only the schedule's own fields take a stand-in here.
                return {self._error(_api_field(loc), {"msg": message})} & attempt.keys()
            return set()

        self._with_stand_ins(values, check)
        return None if self.errors else result

    def _validate(self, model: type[M], body: dict[str, Any]) -> M | None:
        """Every error at once. pydantic runs a model's cross-field checks only once its fields
        are valid, and stops at the first one that fails: each pass puts a valid stand-in where
        a field failed, so the next pass reaches the checks behind it. The rules stay the
        request model's; only the stand-ins are the form's."""
        result: M | None = None

        def check(attempt: dict[str, Any]) -> set[str]:
            nonlocal result
            try:
                result = model.model_validate(attempt)
            except pydantic.ValidationError as exc:
                failed = set()
                for err in exc.errors():
                    loc, message = locate(err, model)
                    failed.add(self._error(_api_field(loc), {**err, "msg": message}))
                return failed
            return set()

        self._with_stand_ins(dict(body), check)
        return None if self.errors else result

    @staticmethod
    def _with_stand_ins(attempt: dict[str, Any], check: Callable[[dict[str, Any]], set[str]],
                        ) -> None:
        """Runs `check` (it records the errors it finds and names the fields they are under)
        until it finds none, or none of those fields has a stand-in left to try: each round puts
        a valid stand-in where a field failed, so that the next one reaches the checks behind
        it. `attempt` is changed in place."""
        for _ in range(len(_STAND_INS)):
            failed = check(attempt)
            stand_ins = {f: _STAND_INS[f] for f in failed
                         if f in _STAND_INS and attempt.get(f) != _STAND_INS[f]}
            if not stand_ins:
                return
            attempt |= stand_ins

    def show_errors(self, errors: list[FieldError]) -> None:
        """Errors the use case found (the ones a request model cannot see)."""
        for error in errors:
            self._error(error.field, {"msg": error.message})

    def _error(self, api_field: str, error: Mapping[str, Any]) -> str:
        """Record `error` under its input; returns the API field it belongs to."""
        head = api_field.split(".")[0]
        field = _INPUT_OF.get(head, head)
        if field not in _INPUTS:
            field = "form"
        self.errors.setdefault(field, plain(error, api_field))
        return head

    def _recipients(self) -> list[dict[str, str]]:
        """One per address: `ada@example.com`, `Ada <ada@example.com>`, or several per line."""
        lines = [line for line in self.recipients.splitlines() if line.strip()]
        if len(lines) > MAX_RECIPIENT_LINES:
            self.errors["recipients"] = (f"At most {MAX_RECIPIENT_LINES:,} here; "
                                         "import larger lists on the audience page.")
            return []
        emails: list[dict[str, str]] = []
        for number, line in enumerate(lines, start=1):
            found = [(name, addr) for name, addr in getaddresses([line.replace(";", ",")])
                     if addr]
            if not found or any("@" not in addr for _, addr in found):
                self.errors.setdefault("recipients", f"Line {number}: {line.strip()[:80]!r} "
                                       "is not an email address.")
                continue  # left out, so that the other fields are still checked
            emails.extend({"email": addr, "name": name} for name, addr in found)
        return emails

    def cadence(self) -> Draft | None:
        """The schedule as the preview needs it, or None while it is incomplete."""
        try:
            zone = self.timezone or "UTC"
            zoneinfo.ZoneInfo(zone)
            at = local_time(self.send_time) if self.send_time else DEFAULT_SEND_TIME
            start = datetime.fromisoformat(self.start_date) if self.start_date else None
            count = int(self.duration) if self.duration else None
            per_week = int(self.weekly_emails) if self.weekly_emails else None
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            return None
        kind = "daily" if self.schedule_type == "daily" else "weekly"
        days = tuple(int(d) for d in self.weekly_days)
        if ((kind == "weekly" and not days) or (count is not None and count < 1)
                or (per_week is not None and not 1 <= per_week <= 7)):
            return None
        months = self.duration_unit == "months"
        return Draft(schedule_type=kind, weekly_days=days, weekly_emails=per_week,
                     total_emails=None if months else count,
                     total_months=count if months else None,
                     start_at=start, send_time=at, timezone=zone)


def _number(text: str) -> int | str | None:
    """A count as typed: the number, or the text itself for the API's check to refuse."""
    if not text:
        return None
    return int(text) if text.isascii() and text.isdigit() else text


# Where an error can show: every input of the form, and the form as a whole.
_INPUTS = frozenset(CampaignForm.__dataclass_fields__) - {"errors"} | {"form"}


def _api_field(loc: Loc) -> str:
    return ".".join(str(p) for p in loc if not isinstance(p, int))
