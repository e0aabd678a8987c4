"""The rows a file import refused: all counted, the first MAX_REPORTED_REJECTIONS reported
with their line and reason (a report stays bounded however bad the file)."""

from __future__ import annotations

from dataclasses import dataclass, field

from campaign_api.schemas import RejectedRow

MAX_REPORTED_REJECTIONS = 10_000


@dataclass
class Rejections:
    count: int = 0
    rows: list[RejectedRow] = field(default_factory=list)

    def add(self, line: int, reason: str) -> None:
        self.count += 1
        if len(self.rows) < MAX_REPORTED_REJECTIONS:
            self.rows.append(RejectedRow(line=line, reason=reason))
