"""The sending policy a claim applies: the workspace's frequency cap and the campaign's send
window.

Frequency cap: a contact gets at most `per_day` campaign emails in any rolling 24 hours and
`per_week` in any rolling 7 days, across the workspace's campaigns (`rules.cap`). What counts
is every campaign delivery to the address sent, or claimed and still in flight, in the last
7 days; transactional mail is kept apart and never counts. Over the cap, a delivery is
deferred to the instant it fits (moved on to the send window's next opening, if its campaign
has one) with the reason recorded on it, or, when the workspace says `skip`, ended as failed
with an email.failed of kind `capped`.

Two senders claiming deliveries to one contact at once must not both let theirs through: in
the claim's transaction each takes an advisory lock per (workspace, address) of its batch, in
ascending key order, before counting; the deliveries another sender let through are committed
(`sending`) before it releases the lock, and so are counted.

Send window: a delivery retried after a temporary failure is retried at the window's next
opening when the retry falls outside it, reckoned in the contact's zone (else the
campaign's, `rules.sendtime.contact_zone`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.campaigns import SendWindow
from mailer import db
from mailer.db import policy as stored
from rules.cap import WEEK, describe, next_fit
from rules.sendtime import contact_zone
from rules.window import next_opening


@dataclass(frozen=True, slots=True)
class Window:
    """A delivery's send window, in the zone it is reckoned in."""

    start: time
    end: time
    weekdays: tuple[int, ...]
    zone: str

    def opening(self, at: datetime) -> datetime:
        """`at` when it is inside the window, else the window's next opening."""
        return next_opening(at, self.start, self.end, self.weekdays, self.zone)


def window_of(row: stored.WindowRow) -> Window:
    window = SendWindow.model_validate(row.send_window)
    return Window(window.start, window.end, tuple(window.weekdays),
                  contact_zone(row.contact_zone, row.campaign_zone))


@dataclass(frozen=True, slots=True)
class OverCap:
    """What becomes of a delivery over the cap: due again at `due_at`, or (None) skipped."""

    reason: str
    due_at: datetime | None


def decide(
    claimed: Sequence[tuple[uuid.UUID, stored.ContactKey]],
    sent: dict[stored.ContactKey, list[datetime]],
    caps: dict[uuid.UUID, stored.Caps],
    windows: dict[uuid.UUID, Window],
    now: datetime,
) -> dict[uuid.UUID, OverCap]:
    """Which of the `claimed` deliveries, (delivery, contact) in claim order, are over their
    workspace's cap given what each contact was `sent`; one let through counts against the
    next one to the same contact. Pure."""
    counted = {key: list(times) for key, times in sent.items()}
    over: dict[uuid.UUID, OverCap] = {}
    for delivery_id, key in claimed:
        cap = caps.get(key[0])
        if cap is None:
            continue
        times = counted.setdefault(key, [])
        fits = next_fit(times, now, per_day=cap.per_day, per_week=cap.per_week)
        if fits is None:
            times.append(now)
            continue
        reason = describe(cap.per_day, cap.per_week)
        if cap.over_cap == "skip":
            over[delivery_id] = OverCap(reason, None)
        else:
            window = windows.get(delivery_id)
            over[delivery_id] = OverCap(reason, window.opening(fits) if window else fits)
    return over


@dataclass(frozen=True)
class ClaimPolicy:
    windows: dict[uuid.UUID, Window]
    over_cap: dict[uuid.UUID, OverCap]


async def at_claim(
    conn: AsyncConnection, claimed: Sequence[db.ClaimedRow], ready: Sequence[db.ClaimedRow],
    now: datetime,
) -> ClaimPolicy:
    """The windows of the `ready` deliveries (claimed and to be sent) and which of them are
    over the cap; in the claim's transaction, whose contacts it locks until the commit."""
    found = await stored.windows_of(conn, [(r.id, r.campaign_id, r.email) for r in ready])
    windows = {delivery_id: window_of(row) for delivery_id, row in found.items()}
    caps = await stored.caps_of(conn, {r.campaign.workspace_id for r in ready})
    capped = [(r.id, (r.campaign.workspace_id, r.email)) for r in ready
              if r.campaign.workspace_id in caps]
    if not capped:
        return ClaimPolicy(windows, {})
    keys = {key for _, key in capped}
    await stored.lock_contacts(conn, keys)
    # The whole batch is `sending` in this transaction: none of it is history yet.
    sent = await stored.capped_sends(conn, keys, since=now - WEEK,
                                     excluding=[r.id for r in claimed])
    return ClaimPolicy(windows, decide(capped, sent, caps, windows, now))
