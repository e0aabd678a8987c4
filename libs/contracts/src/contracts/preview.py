"""Preview of a campaign's next email: the one synchronous exchange, by NATS request-reply.

campaign-api sends a `PreviewRequest` to `PREVIEW_SUBJECT`; a content-generator replica answers
with a `PreviewReply`. Nothing is stored as sent content and nothing is published.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

PREVIEW_SUBJECT = "rpc.content.preview"
# Queue group: one replica answers each request.
PREVIEW_QUEUE = "content-generator"


class PreviewRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    workspace_id: uuid.UUID
    campaign_id: uuid.UUID


class PreviewDraft(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sequence: int = Field(ge=1)
    subject: str
    preheader: str
    body_html: str
    body_text: str
    model: str
    provider: str
    structure: str
    cost: Decimal = Decimal(0)


class PreviewReply(BaseModel):
    """Either a draft or an error naming why there is none."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    draft: PreviewDraft | None = None
    error: str | None = Field(default=None, max_length=2_000)
    error_code: str | None = Field(default=None, max_length=50)
