"""Events a workspace's systems report about its contacts (POST /api/events). Pure.

An event is recorded once per `event_id` in its workspace: the caller's idempotency key.
A caller that gives none gets one derived from the body itself (the contact, the name and
the properties), so a retried request is recorded once; two events meant to count twice
with the same name and properties must then carry their own ids (or a property that tells
them apart, such as an order number or a timestamp).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping

from contracts.journey_events import PropertyValue

# Fixed for good: derived ids must stay the same across releases.
_EVENT_IDS = uuid.UUID("0b0e7c1c-3f4a-5d8e-9a61-6c1f2d7b4e90")
_ENVELOPES = uuid.UUID("6a2d9f0e-8b17-4c53-a2e4-71c8d05b93fa")


def derived_event_id(email: str, name: str, properties: Mapping[str, PropertyValue]) -> uuid.UUID:
    """The id of an event given without one: the same body, the same id."""
    body = json.dumps([email, name, dict(properties)], sort_keys=True, separators=(",", ":"))
    return uuid.uuid5(_EVENT_IDS, body)


def envelope_id(workspace_id: uuid.UUID, event_id: uuid.UUID) -> uuid.UUID:
    """The activity.recorded event's own id: one per (workspace, event id), so two workspaces'
    systems using the same ids never collide on the stream."""
    return uuid.uuid5(_ENVELOPES, f"{workspace_id}:{event_id}")
