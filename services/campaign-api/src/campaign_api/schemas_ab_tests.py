"""The API's A/B test documents: each tested email's variants with their counts, its status
and decision, and an operator's pick of the winner."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.ab_tests import DecisionRule, TestKind, TestMetric, VariantKey


class WinnerPick(BaseModel):
    """The variant an operator sends to everyone held back, instead of waiting for the
    window's end."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"variant": "B"}]})

    variant: VariantKey


class VariantReport(BaseModel):
    key: VariantKey
    subject: str
    preheader: str
    delivered: int = Field(description="Addresses sent this variant (its slice, and after the "
                           "decision everyone held back when it won)")
    unique_human_opens: int
    unique_human_clicks: int
    rate: float = Field(description="The test's metric over delivered: unique human clicks "
                        "or opens per address sent it")
    probability_best: float | None = Field(
        description="At the decision, the probability this variant was the best by Beta "
        "posteriors; null before it, or when an operator picked the winner")


class AbTestReport(BaseModel):
    sequence: int
    kind: TestKind
    metric: TestMetric
    slice_percent: float = Field(description="Share of the recipients sent each variant")
    status: Literal["testing", "decided"]
    decide_at: datetime = Field(description="When the winner is decided, unless an operator "
                                "picks it before")
    winner: VariantKey | None
    rule: DecisionRule | None = Field(description="probability: one variant was best with "
                                      "probability >= 95%; best_rate: none was, the best rate "
                                      "won; operator: picked by hand")
    decided_at: datetime | None
    variants: list[VariantReport]
