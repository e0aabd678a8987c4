"""Scripted behaviours for the fake's chat completions endpoint, and the queues that hold them."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias


@dataclass(frozen=True)
class Reply:
    """A successful completion. A mapping `content` is sent JSON-encoded, as structured outputs are.

    Token counts left as None are estimated from the request and reply (about 4 characters per
    token); a cost left as None is those tokens times the fake's per-token prices.
    """

    content: str | Mapping[str, Any]
    model: str | None = None  # reported instead of the model the request was routed to
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    finish_reason: str = "stop"
    delay: float = 0.0


@dataclass(frozen=True)
class Error:
    """An error answered before generation started: the only kind that triggers model fallback.

    `message` defaults to OpenRouter's wording for the status, `code` to the status, and a 403
    without `metadata` carries moderation metadata like OpenRouter's.
    """

    status: int
    message: str | None = None
    code: int | None = None
    retry_after: int | None = None  # seconds, sent as the Retry-After header
    metadata: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError(f"Error status must be 4xx or 5xx, got {self.status}")


@dataclass(frozen=True)
class ErrorInBody:
    """A failure after generation started: HTTP 200 with an `error` object instead of a reply.

    With `in_choice` the error comes as a choice with finish_reason "error" rather than at the top
    level of the body; OpenRouter uses both shapes.
    """

    message: str = "Provider returned error"
    code: int = 502
    in_choice: bool = False


@dataclass(frozen=True)
class Empty:
    """A completion whose message content is the empty string."""


@dataclass(frozen=True)
class Truncated:
    """A reply cut off by max_tokens: finish_reason "length" and half the default email's JSON."""


@dataclass(frozen=True)
class Malformed:
    """A completion whose content is not JSON, although JSON was asked for."""

    content: str = "Sure! Here is a great email for your campaign."


@dataclass(frozen=True)
class Hang:
    """Waits `seconds`, then answers as the default responder would; for tripping client timeouts.

    The wait ends early, dropping the connection, if the client goes away or the fake stops.
    """

    seconds: float = 30.0


@dataclass(frozen=True)
class Disconnect:
    """Closes the connection without sending any response."""


ScriptItem: TypeAlias = (
    Reply | Error | ErrorInBody | Empty | Truncated | Malformed | Hang | Disconnect
)

# Answers an attempt nothing was scripted for: (request body, model being tried) -> behaviour.
Responder: TypeAlias = Callable[[Mapping[str, Any], str], ScriptItem]


class Script:
    """FIFO queues of script items, one shared and one per model.

    Tests fill them from their own thread while the server drains them from its event loop, so
    every access holds a lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shared: deque[ScriptItem] = deque()
        self._by_model: dict[str, deque[ScriptItem]] = {}

    def add(self, items: Iterable[ScriptItem], model: str | None = None) -> None:
        with self._lock:
            queue = self._shared if model is None else self._by_model.setdefault(model, deque())
            queue.extend(items)

    def take(self, model: str) -> ScriptItem | None:
        """The next item for one attempt at `model`: from its own queue, else the shared one."""
        with self._lock:
            for queue in (self._by_model.get(model), self._shared):
                if queue:
                    return queue.popleft()
            return None

    def pending(self) -> int:
        with self._lock:
            return len(self._shared) + sum(len(queue) for queue in self._by_model.values())

    def clear(self) -> None:
        with self._lock:
            self._shared.clear()
            self._by_model.clear()
