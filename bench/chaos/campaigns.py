"""The crash suite's work, through the API: campaigns created while parts are down, and the wait
until every delivery is settled."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from testkit.fake_openrouter import DEFAULT_MODEL

CREATE_TIMEOUT = 120.0  # seconds a campaign may take to be accepted while parts are down
# campaign-api answers 409 "retry shortly" while a request with the same Idempotency-Key is
# being processed; one that stays so longer than this was left claimed by a request that died.
STUCK_KEY_SECONDS = 15.0
_RETRY_PAUSE = 0.5


class CreateError(RuntimeError):
    """The API refused the campaign, or did not accept it in time."""


@dataclass(frozen=True)
class Created:
    campaign_id: str
    # What went wrong on the way, though the campaign was created in the end.
    finding: str | None = None


def create(api: httpx.Client, key: str, description: str, chunk: Sequence[str]) -> Created:
    """Create a campaign whose one email goes at once, retried with the same Idempotency-Key
    while parts of the system are down, so that a retry never creates a second campaign.

    A key the API keeps "still being processed" for STUCK_KEY_SECONDS is a finding: the harness
    then looks the campaign up by its name (the key) and, if it was never created, creates it
    under a new key."""
    name = f"Chaos {key}"
    payload = {
        "name": name, "description": description, "schedule_type": "daily", "total_emails": 1,
        "ai_agent_id": DEFAULT_MODEL, "recipient_emails": list(chunk),
    }
    deadline = time.monotonic() + CREATE_TIMEOUT
    last, stuck_since, finding, attempt_key = "no answer", None, None, key
    while time.monotonic() < deadline:
        try:
            response = api.post("/api/campaigns/", json=payload, timeout=30,
                                headers={"Idempotency-Key": attempt_key})
        except httpx.TransportError as error:
            last = repr(error)
        else:
            status = response.status_code
            if status in (200, 201):
                created: dict[str, Any] = response.json()
                return Created(str(created["id"]), finding)
            if status not in (409, 429) and status < 500:
                raise CreateError(f"creating a campaign answered {status}: {response.text[:500]}")
            last = f"{status} {response.text[:200]}"
            now = time.monotonic()
            if status != 409:
                stuck_since = None
            elif stuck_since is None:
                stuck_since = now
            elif now - stuck_since > STUCK_KEY_SECONDS and finding is None:
                try:
                    found = _find(api, name)
                except httpx.HTTPError:
                    stuck_since = now  # not known whether it exists: ask again later
                    continue
                finding = (f"campaign-api kept Idempotency-Key {attempt_key} 'still being"
                           f" processed' for over {STUCK_KEY_SECONDS:g} s after the request"
                           " that claimed it failed")
                if found is not None:
                    return Created(found, finding)
                attempt_key, stuck_since = f"{key}-again", None
        time.sleep(_RETRY_PAUSE)
    raise CreateError(f"no campaign created within {CREATE_TIMEOUT:g} s (last: {last})")


def _find(api: httpx.Client, name: str) -> str | None:
    response = api.get("/api/campaigns/", params={"q": name, "limit": 100})
    response.raise_for_status()
    for item in response.json()["items"]:
        if item["name"] == name:
            return str(item["id"])
    return None


def settle(api: httpx.Client, ids: Sequence[str], expected: int, limit: float) -> bool:
    """Wait until the API counts every delivery of `ids` sent or failed; False after `limit`."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if _settled_count(api, ids) >= expected:
            return True
        time.sleep(_RETRY_PAUSE)
    return False


def _settled_count(api: httpx.Client, ids: Sequence[str]) -> int:
    total = 0
    for campaign_id in ids:
        try:
            response = api.get(f"/api/campaigns/{campaign_id}/")
        except httpx.TransportError:
            return 0
        if response.status_code != 200:
            return 0
        progress = response.json()["progress"]
        total += progress["deliveries_sent"] + progress["deliveries_failed"]
    return total
