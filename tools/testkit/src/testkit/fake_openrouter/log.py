"""The fake's record of every request it received and what it answered."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it, and its outcome once answered.

    `status` is None while the request is in flight, and stays None if the connection was closed
    without a response (`responded_at` then records when).
    """

    method: str
    path: str
    headers: Mapping[str, str]  # names lower-cased
    body: Any  # parsed JSON; None when absent or not JSON
    received_at: float  # time.monotonic(), comparable with the test's own clock
    received_wall: float  # time.time()
    status: int | None = None
    responded_at: float | None = None  # time.monotonic()
    model: str | None = None  # the model that answered, as reported in the response
    attempted_models: tuple[str, ...] = ()  # in fallback order, including the one that answered
    usage: Mapping[str, Any] | None = None  # the usage object returned, if any


class RequestLog:
    """Thread-safe: the server writes from its event loop while tests read from theirs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens = itertools.count()
        self._entries: dict[int, RecordedRequest] = {}  # insertion order is arrival order

    def open(self, entry: RecordedRequest) -> int:
        with self._lock:
            token = next(self._tokens)
            self._entries[token] = entry
            return token

    def close(
        self,
        token: int,
        *,
        status: int | None,
        responded_at: float,
        model: str | None,
        attempted_models: tuple[str, ...],
        usage: Mapping[str, Any] | None,
    ) -> None:
        with self._lock:
            entry = self._entries.get(token)
            if entry is not None:  # absent when the log was cleared mid-request
                self._entries[token] = dataclasses.replace(
                    entry,
                    status=status,
                    responded_at=responded_at,
                    model=model,
                    attempted_models=attempted_models,
                    usage=usage,
                )

    def entries(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._entries.values())

    def total_cost(self) -> float:
        return sum(float(e.usage.get("cost", 0.0)) for e in self.entries() if e.usage)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
