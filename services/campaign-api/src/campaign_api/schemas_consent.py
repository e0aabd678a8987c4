"""Request and response bodies of consent, suppressions, GDPR and the workspace settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from campaign_api.schemas import Money, RejectedRow
from contracts.contacts import ListedReason
from contracts.events import OverCap

SuppressionReason = ListedReason


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignupEmbed(BaseModel):
    url: str = Field(description="The hosted sign-up form: link to it, or post to it")
    html: str = Field(description="The form as HTML to paste into any page; it posts to `url`")


class Suppression(BaseModel):
    email: str
    reason: SuppressionReason
    note: str
    created_at: datetime


class SuppressionPage(BaseModel):
    items: list[Suppression]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class SuppressionAdd(_Strict):
    email: str = Field(max_length=320)
    reason: SuppressionReason = "manual"
    note: str = Field(default="", max_length=1_000)


class SuppressionAdded(BaseModel):
    added: bool = Field(description="False when the address was on the list already (it keeps "
                        "its first reason)")


class SuppressionImport(BaseModel):
    rows: int = Field(description="Data rows read (header excluded)")
    added: int
    already: int = Field(description="Valid rows whose address was on the list already, or "
                         "earlier in the file")
    rejected: int
    rejected_rows: list[RejectedRow]


class SuppressionRemove(_Strict):
    reason: str = Field(min_length=1, max_length=1_000,
                        description="Why the address may be mailed again; kept on record")


class WorkspaceSettings(BaseModel):
    name: str
    frequency_cap_day: int | None = Field(description="At most this many campaign emails per "
                                          "contact in any 24 hours; null: no cap")
    frequency_cap_week: int | None = Field(description="At most this many in any 7 days; null: "
                                           "no cap")
    over_cap: OverCap = Field(description="A send over the cap waits until it "
                                               "fits (defer) or is not made (skip)")
    monthly_llm_budget: Money | None = Field(description="LLM spend per calendar month (UTC) "
                                             "in OpenRouter credits; null: no limit")


class WorkspaceSettingsUpdate(_Strict):
    """Only the settings given change; null clears a cap or the budget."""

    frequency_cap_day: int | None = Field(default=None, ge=1, le=1_000)
    frequency_cap_week: int | None = Field(default=None, ge=1, le=10_000)
    over_cap: OverCap | None = None
    monthly_llm_budget: Decimal | None = Field(default=None, ge=0, max_digits=18,
                                               decimal_places=10)


class ContactExport(BaseModel):
    """Everything campaign-api holds of one contact."""

    profile: dict[str, Any]
    lists: list[dict[str, Any]]
    consents: list[dict[str, Any]]
    deliveries: dict[str, list[dict[str, Any]]] = Field(
        description="`sent`: every email sent to the address; `failed`: every failed delivery")
    engagement: list[dict[str, Any]] = Field(description="Opens, clicks, unsubscribes")
    suppression: dict[str, Any] | None


class Erased(BaseModel):
    id: uuid.UUID
    erased: Literal[True] = True
