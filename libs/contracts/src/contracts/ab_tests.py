"""A/B tests of a campaign's emails: the setting on the campaign, the variants an email is
written in, and the decision that sends the winner to everyone held back.

An email under test is written in 2-4 variants. Each variant goes to its own test slice of the
recipients (a share drawn deterministically per contact), the rest are held; after the test's
window campaign-api decides the winner from the slices' human engagement (or an operator picks
it) and publishes `ab_test.decided`, on which the mailer sends the winner to the held.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, model_validator

from contracts.envelope import Event, Payload
from contracts.types import OneLine

VariantKey = Literal["A", "B", "C", "D"]
VARIANT_KEYS: tuple[VariantKey, ...] = ("A", "B", "C", "D")
# subject: the variants differ in subject and preheader only (the common case);
# content: each variant is a whole email of its own angle.
TestKind = Literal["subject", "content"]
# What decides: unique human clicks, or unique human opens, over deliveries of each slice.
TestMetric = Literal["clicks", "opens"]
# probability: one variant's Beta posterior is best with probability >= the test's threshold;
# best_rate: none was, and the best observed rate at the deadline won; operator: picked by hand.
DecisionRule = Literal["probability", "best_rate", "operator"]

# Recipients are split into this many buckets; a slice is a range of them.
BUCKETS = 10_000


class AbTest(Payload):
    """Which emails of a campaign are tested, and how."""

    sequences: list[Annotated[int, Field(ge=1)]] | None = Field(
        default=None, max_length=100,
        description="The emails tested, by sequence number; null: every email")
    variants: int = Field(default=2, ge=2, le=4, description="Variants per tested email")
    kind: TestKind = "subject"
    metric: TestMetric = "clicks"
    slice_percent: float = Field(
        default=10, gt=0, le=50,
        description="Share of the recipients each variant is sent to; the rest are held "
        "until the winner is known")
    window_minutes: float = Field(
        default=240, gt=0, le=30 * 24 * 60,
        description="How long after the email's send time the winner is decided")

    @model_validator(mode="after")
    def _check(self) -> AbTest:
        if self.variants * self.slice_percent > 100:
            raise ValueError(f"slice_percent: {self.variants} variants of "
                             f"{self.slice_percent:g}% each are more than everyone")
        if self.sequences is not None and len(set(self.sequences)) != len(self.sequences):
            raise ValueError("sequences: each email at most once")
        return self

    def tests(self, sequence: int) -> bool:
        return self.sequences is None or sequence in self.sequences

    @property
    def slice_buckets(self) -> int:
        """Each variant's slice, in buckets of BUCKETS (at least one)."""
        return max(1, round(self.slice_percent * BUCKETS / 100))


class EmailVariant(Payload):
    """One variant of a tested email. In a subject test the body is the email's own (empty
    here); in a content test each variant carries its body."""

    key: VariantKey
    subject: OneLine = Field(min_length=1, max_length=200)
    preheader: OneLine = Field(default="", max_length=300)
    body_html: str = Field(default="", max_length=200_000)
    body_text: str = Field(default="", max_length=100_000)


class VariantResult(Payload):
    """A variant's test slice at the decision, in counts."""

    key: VariantKey
    delivered: int = Field(ge=0)
    # Unique human clicks or unique human opens, as the test's metric says.
    successes: int = Field(ge=0)
    rate: float = Field(ge=0)
    # The probability that this variant's rate is the best, by Beta(1 + successes,
    # 1 + delivered - successes) posteriors; None for an operator's pick.
    probability_best: float | None = Field(default=None, ge=0, le=1)


class AbTestDecidedPayload(Payload):
    campaign_id: uuid.UUID
    sequence: int = Field(ge=1)
    winner: VariantKey
    rule: DecisionRule
    metric: TestMetric
    decided_at: AwareDatetime
    results: list[VariantResult] = Field(default_factory=list, max_length=4)


class AbTestDecided(Event):
    """The winner of a tested email: sent by the mailer to every recipient held back."""

    TYPE = "ab_test.decided"
    type: Literal["ab_test.decided"] = "ab_test.decided"
    payload: AbTestDecidedPayload
