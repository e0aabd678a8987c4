"""Request and response bodies of the segments API. Shapes only: what a rule may say is
`segment_rules`', which names the path inside the rule it refuses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.contacts import ContactStatus

SAMPLE_SIZE = 20
Name = Annotated[str, Field(min_length=1, max_length=200)]
RuleBody = Annotated[dict[str, Any], Field(
    description='A rule tree: {"all": [...]} or {"any": [...]} nested, over conditions such '
    'as {"field": "age", "op": "greater", "value": 30}, {"tag": "vip"}, '
    '{"status": ["subscribed"]}, {"list": "<id>", "op": "not_in"}, '
    '{"timezone": ["Europe/Berlin"]}, {"language": ["en"]}, '
    '{"engagement": "opened", "within_days": 30, "campaign_id": "<id>"}',
    examples=[{"all": [{"tag": "vip"}, {"engagement": "opened", "within_days": 30}]}])]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SegmentCreate(_Strict):
    name: Name
    rule: RuleBody


class SegmentUpdate(_Strict):
    name: Name | None = None
    rule: RuleBody | None = None


class SegmentPreview(_Strict):
    rule: RuleBody


class SampleContact(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    status: ContactStatus


class SegmentCount(BaseModel):
    """Who the rule selects now: how many, and the first SAMPLE_SIZE by address."""

    count: int
    sample: list[SampleContact]


class Segment(BaseModel):
    id: uuid.UUID
    name: str
    rule: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    refreshed_at: datetime | None = Field(
        description="When the mailer was last sent the members; null: due at once")
    members: int = Field(description="The members the mailer was last sent")


class SegmentDetail(Segment, SegmentCount):
    pass


class SegmentPage(BaseModel):
    items: list[Segment]
    next_cursor: str | None
