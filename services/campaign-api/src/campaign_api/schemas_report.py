"""The campaign's stats and report: each email's counts read from its counters, each link's
clicks, and the sums per structure and for the campaign."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from campaign_api.schemas_ab_tests import AbTestReport
from contracts.learning import StructureChoice


class Counts(BaseModel):
    sent: int = 0
    failed: int = 0
    bounced: int = Field(0, description="Refused by the receiving server (SMTP 5xx) only")
    invalid: int = Field(0, description="Failed: no safe message could be built")
    suppressed: int = Field(0, description="Failed: the address is on the suppression list")
    expired: int = Field(0, description="Failed: given up after temporary failures")
    capped: int = Field(0, description="Failed: skipped over the workspace's frequency cap")
    opens: int = Field(0, description="Every open recorded, a person's or a machine's")
    unique_opens: int = 0
    clicks: int = Field(0, description="Every click recorded, a person's or a machine's")
    unique_clicks: int = 0
    human_opens: int = Field(0, description="Opens labelled a person's: not an image proxy's "
                             "prefetch (Apple Mail Privacy Protection, a proxy within seconds of "
                             "delivery) nor a bot's")
    unique_human_opens: int = 0
    human_clicks: int = Field(0, description="Clicks labelled a person's: not a link "
                              "scanner's (a bot's user agent, every link within seconds, "
                              "the hidden trap link)")
    unique_human_clicks: int = 0
    unsubscribes: int = 0
    open_rate: float = Field(0.0, description="unique opens / sent")
    click_rate: float = Field(0.0, description="unique clicks / sent")
    human_open_rate: float = Field(0.0, description="unique human opens / sent")
    human_click_rate: float = Field(0.0, description="unique human clicks / sent")
    unsubscribe_rate: float = Field(0.0, description="unsubscribes / sent")
    bounce_rate: float = Field(0.0, description="bounced / (sent + failed)")


class EmailCounts(Counts):
    sequence: int
    subject: str | None
    structure: str | None


class StructureCounts(Counts):
    structure: str


class CampaignStats(BaseModel):
    campaign_id: uuid.UUID
    totals: Counts
    emails: list[EmailCounts]
    structures: list[StructureCounts]


class LinkCounts(BaseModel):
    sequence: int
    url: str
    clicks: int = Field(description="Every click of the link, a person's or a machine's")
    unique_clicks: int = Field(description="Addresses that clicked it")
    human_clicks: int = Field(description="Clicks labelled a person's")
    unique_human_clicks: int = Field(description="Addresses whose click was a person's")


class ReportEmail(EmailCounts):
    structure_choice: StructureChoice | None = Field(
        default=None, description="Why the email has its structure: the rule that chose it "
        "(rotation, thompson or exploration), the arm chosen, and each arm's Beta posterior "
        "(alpha, beta, mean) and the draw taken from it when the email was written; null for "
        "emails written without one")


class CampaignReport(BaseModel):
    campaign_id: uuid.UUID
    totals: Counts = Field(description="The emails' counts added up: a person who opened two "
                           "emails is two unique opens here, one per delivery")
    emails: list[ReportEmail] = Field(description="Per email, from the counters kept on it as "
                                      "engagement is recorded; `sent` is delivered")
    structures: list[StructureCounts] = Field(description="The emails' counts added up per "
                                              "structure they were written with")
    links: list[LinkCounts] = Field(description="Per email, its clicked links, the most people's "
                                    "clickers first")
    ab_tests: list[AbTestReport] = Field(
        default_factory=list, description="Per email under an A/B test, its variants' counts "
        "and the decision")
