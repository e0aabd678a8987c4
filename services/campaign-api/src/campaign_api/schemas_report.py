"""The campaign report's answer: each email's counts read from its counters, each link's
clicks, and the sums per structure and for the campaign."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from campaign_api.schemas import Counts, EmailCounts, StructureCounts
from campaign_api.schemas_ab_tests import AbTestReport
from contracts.learning import StructureChoice


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
