"""Each email's performance counts, the rules that keep them, and when a summary of them is
sent (pure: no I/O).

The counters live on the email's row and change as engagement is recorded, so a summary reads
one row, however many deliveries the email had. A recording works out what one recipient
contributed to the counters before and after it (`RecipientTally`, read from that recipient's
few rows of the email) and adds the difference: a click relabelled a machine's later (a
scanner's burst, a trap link) takes back what it had added, and "unique" stays one per address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# The counters, named as the stats name them (db.engagement's _engagement_counts).
ENGAGEMENT_COUNTERS = ("opens", "unique_opens", "human_opens", "unique_human_opens", "clicks",
                       "unique_clicks", "human_clicks", "unique_human_clicks", "unsubscribes")
# Counted from deliveries (email.sent, email.failed), not from engagement.
DELIVERY_COUNTERS = ("sent", "bounced")

# The smallest step PostgreSQL's timestamps keep.
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class RecipientTally:
    """One address's opens and clicks of one email; `human_*` those labelled a person's."""

    opens: int = 0
    human_opens: int = 0
    clicks: int = 0
    human_clicks: int = 0

    def counters(self) -> dict[str, int]:
        """What the address adds to the email's counters."""
        return {
            "opens": self.opens, "unique_opens": int(self.opens > 0),
            "human_opens": self.human_opens, "unique_human_opens": int(self.human_opens > 0),
            "clicks": self.clicks, "unique_clicks": int(self.clicks > 0),
            "human_clicks": self.human_clicks, "unique_human_clicks": int(self.human_clicks > 0),
        }


def counter_changes(before: RecipientTally, after: RecipientTally) -> dict[str, int]:
    """The changes to the email's counters when one address's tally goes from `before` to
    `after`; only the counters that change."""
    old, new = before.counters(), after.counters()
    return {name: new[name] - old[name] for name in new if new[name] != old[name]}


def summary_counts(row: Any) -> dict[str, int]:
    """The counts a summary carries, from the email's row (its counters and deliveries)."""
    counts = {name: int(getattr(row, name)) for name in ENGAGEMENT_COUNTERS}
    return {"delivered": int(row.sent), "bounced": int(row.bounced), **counts}


def next_as_of(now: datetime, previous: datetime | None) -> datetime:
    """When a new summary's counts were taken: now, but always after the email's previous
    summary, so that `as_of` orders an email's summaries even across replicas whose clocks
    differ a little."""
    if previous is None or now > previous:
        return now
    return previous + _TICK
