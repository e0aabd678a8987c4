"""Request and response bodies of POST /api/events."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from contracts.journey_events import MAX_PROPERTIES, PropertyKey, PropertyValue
from contracts.journeys import EventName


class EventIn(BaseModel):
    """Something a contact did, reported by the workspace's own systems."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "event_id": "0f8b6c1e-2d4a-4b7e-9c3f-5a1d2e3f4b5c", "contact": "ada@example.com",
        "name": "order.paid", "properties": {"order": "A-1042", "total": 42.5}}]})

    event_id: uuid.UUID | None = Field(
        default=None, description="The event's idempotency key: an event is recorded once per "
        "id. Without one, the id is derived from the contact, name and properties, so an "
        "identical body is recorded once")
    contact: EmailStr = Field(description="The contact's address; a contact the workspace "
                              "does not have yet is created (subscribed, like POST "
                              "/api/contacts)")
    name: EventName = Field(description='What happened: "signed_up", "order.paid"')
    properties: dict[PropertyKey, PropertyValue] = Field(
        default_factory=dict, max_length=MAX_PROPERTIES,
        description="Flat JSON scalars, strings of at most 1000 characters")


class EventAccepted(BaseModel):
    event_id: uuid.UUID
    duplicate: bool = Field(description="The event was recorded before (this id): nothing "
                            "was recorded or published again")
