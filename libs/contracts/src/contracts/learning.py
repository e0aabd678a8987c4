"""What the learners read and what they decided: each email's performance summary, which
campaign-api publishes for the content generator, and the structure bandit's choice for an
email, which content.generated carries to campaign-api to show."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, Field

from contracts.envelope import Event, Payload

# How the bandit chose an email's structure (see StructureChoice).
ChoiceRule = Literal["rotation", "thompson", "exploration"]


class ArmBelief(Payload):
    """One structure's Beta posterior over its reward rate when an email's structure was
    chosen, and the draw taken from it."""

    arm: str = Field(max_length=50)
    alpha: float = Field(gt=0)
    beta: float = Field(gt=0)
    mean: float = Field(ge=0, le=1)
    sample: float = Field(ge=0, le=1)


class StructureChoice(Payload):
    """Why an email was written with its structure: the rule that decided (`rotation`: the
    first round, nothing learnt yet; `thompson`: the highest draw from the posteriors;
    `exploration`: drawn uniformly, the floor on exploration), the arm chosen, and every arm's
    posterior and draw at that moment. `seed` reproduces the draws."""

    rule: ChoiceRule
    arm: str = Field(max_length=50)
    seed: int = Field(ge=0, lt=2**64)
    arms: list[ArmBelief] = Field(default_factory=list, max_length=32)


class EmailPerformancePayload(Payload):
    """How one email of a campaign is doing, in counts only (never who): what the learners
    read. A newer summary of the same email replaces an older one; `as_of` orders them, strictly
    increasing per email, so a consumer keeps the newest whatever order they arrive in.

    "Human" counts are the opens and clicks campaign-api labelled a person's; the others count
    every open and click, machines' (proxy prefetches, link scanners) included."""

    campaign_id: uuid.UUID
    sequence: int = Field(ge=1)
    # The structure the email was written with, as content.generated named it ("" if unknown).
    structure: str = Field(default="", max_length=50)
    delivered: int = Field(ge=0)
    # What the receiving servers refused (email.failed of kind "bounced").
    bounced: int = Field(ge=0)
    opens: int = Field(ge=0)
    unique_opens: int = Field(ge=0)
    human_opens: int = Field(ge=0)
    unique_human_opens: int = Field(ge=0)
    clicks: int = Field(ge=0)
    # Addresses that clicked at least once.
    unique_clicks: int = Field(ge=0)
    human_clicks: int = Field(ge=0)
    unique_human_clicks: int = Field(ge=0)
    unsubscribes: int = Field(ge=0)
    as_of: AwareDatetime


class EmailPerformance(Event):
    """A per-email summary of delivery and engagement, published by campaign-api at most once
    per email every summary interval, and only when a count changed."""

    TYPE = "email.performance"
    type: Literal["email.performance"] = "email.performance"
    payload: EmailPerformancePayload
