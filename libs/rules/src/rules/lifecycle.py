"""A campaign's lifecycle: its statuses and the changes between them. One table for the API,
which decides them, and for the scheduler and the mailer, which follow them as events.

    active ──pause──► paused ──resume──► active
    active, paused ──cancel──► cancelled
    active ──complete──► completed      (the scheduler: no more emails to plan)

A completed campaign may still see a cancel: a person cancelled it while the scheduler was
completing it and the two events crossed. Its last email may still be going out, and the
cancel stops what is left of it. Nobody can ask to cancel a campaign already completed.
Likewise a paused campaign may see the completion of a scheduler that planned its last email
before the pause reached it: it is completed, since no email is left to hold back.
"""

from __future__ import annotations

from typing import Literal

Status = Literal["active", "paused", "cancelled", "completed"]
Change = Literal["pause", "resume", "cancel", "complete"]

STATUSES: tuple[Status, ...] = ("active", "paused", "cancelled", "completed")
FINISHED: frozenset[str] = frozenset({"completed", "cancelled"})

_TRANSITIONS: dict[tuple[str, Change], Status] = {
    ("active", "pause"): "paused",
    ("paused", "resume"): "active",
    ("active", "cancel"): "cancelled",
    ("paused", "cancel"): "cancelled",
    ("active", "complete"): "completed",
}
# Applied when it arrives, never requested: see the module's docstring.
_CROSSED: dict[tuple[str, Change], Status] = {("completed", "cancel"): "cancelled",
                                              ("paused", "complete"): "completed"}

_TARGET: dict[Change, Status] = {"pause": "paused", "resume": "active", "cancel": "cancelled",
                                 "complete": "completed"}
_PAST: dict[Change, str] = {"pause": "paused", "resume": "resumed", "cancel": "cancelled",
                            "complete": "completed"}


class TransitionRefused(ValueError):  # noqa: N818 - reads as what it is
    pass


def follow(status: str, change: Change) -> Status | None:
    """The status after a change that already happened (a lifecycle event), or None when it
    changes nothing here: a repeat, or a change this status does not take."""
    key = (status, change)
    return _TRANSITIONS.get(key) or _CROSSED.get(key)


def request(status: str, change: Change) -> Status | None:
    """The status a person's request leads to; None when the campaign is already there
    (nothing to do); TransitionRefused when this status cannot take it."""
    if status == _TARGET[change]:
        return None
    target = _TRANSITIONS.get((status, change))
    if target is None:
        raise TransitionRefused(f"status: a {status} campaign cannot be {_PAST[change]}")
    return target


def is_running(status: str) -> bool:
    """Whether the campaign still sends and may be edited: active or paused."""
    return status in ("active", "paused")
