"""The structure bandit: which structure each email of a campaign is written with, learnt from
how people responded to the campaign's earlier emails. Pure, no I/O.

Each structure is an arm with a Beta posterior over its reward rate: the share of delivered
copies that a person clicked (unique human clicks over delivered). A human open without a click
counts as `open_weight` of a click: an open says the subject worked, not that the email did, so
it is the weaker signal. Machine engagement (image-proxy prefetches, link scanners) never gets
here: campaign-api counts it apart, and only its human counts are read.

An email's evidence is what it earned within the reward window after its send, so an old email
does not outweigh yesterday's by having been around longer; the store keeps each email's
summary as it stood at the end of that window.

Priors come from the workspace's other campaigns, per arm, shrunk to at most `prior_strength`
deliveries' worth so that the campaign's own evidence soon outweighs them. Where the workspace
has nothing to say, the first round follows the seed's rotation, so every structure is tried
once before any is preferred.

Thompson sampling: one draw from each arm's posterior; the highest draw wins. With probability
`explore` the arm is drawn uniformly instead: a floor on exploration, so that an arm written off
early by bad luck is still tried now and then.

The random generator is seeded from (campaign, sequence): a redelivered email.due draws the
same arm, and a test can reproduce any draw.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from content_generator.domain import STRUCTURES, Structure, structure_for
from contracts.learning import ChoiceRule

Rule = ChoiceRule


@dataclass(frozen=True)
class BanditPolicy:
    # A human open without a click, in clicks.
    open_weight: float = 0.1
    # The most the workspace's other campaigns weigh, in deliveries, per arm.
    prior_strength: float = 500.0
    # Share of emails whose arm is drawn uniformly rather than by Thompson sampling.
    explore: float = 0.05
    # How long after its send an email's engagement still counts as its reward.
    reward_window: timedelta = timedelta(days=3)


@dataclass(frozen=True)
class Evidence:
    """What one email (or a sum of emails) written with `arm` earned: people, not events."""

    arm: str
    delivered: int
    clicks: int  # unique human clicks
    opens: int = 0  # unique human opens


@dataclass(frozen=True)
class Posterior:
    arm: str
    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)


@dataclass(frozen=True)
class Choice:
    """The arm an email is written with, and why: kept with the email and shown to people."""

    arm: Structure
    rule: Rule
    posteriors: tuple[Posterior, ...]
    # The draw from each posterior, in the same order (all drawn, whichever rule decided).
    samples: tuple[float, ...]
    seed: int


def seed_for(campaign_id: uuid.UUID, sequence: int) -> int:
    digest = hashlib.sha256(f"{campaign_id}:{sequence}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _successes(evidence: Evidence, policy: BanditPolicy) -> float:
    opened_only = max(evidence.opens - evidence.clicks, 0)
    return min(evidence.clicks + policy.open_weight * opened_only, float(evidence.delivered))


def _totals(evidence: Sequence[Evidence], policy: BanditPolicy) -> dict[str, tuple[float, float]]:
    """Per arm: (successes, deliveries)."""
    totals: dict[str, tuple[float, float]] = {}
    for e in evidence:
        if e.delivered <= 0:
            continue
        won, tried = totals.get(e.arm, (0.0, 0.0))
        totals[e.arm] = (won + _successes(e, policy), tried + e.delivered)
    return totals


def posteriors(
    campaign: Sequence[Evidence], workspace: Sequence[Evidence],
    policy: BanditPolicy = BanditPolicy(), arms: Sequence[Structure] = STRUCTURES,
) -> tuple[Posterior, ...]:
    """Each arm's Beta posterior: a uniform Beta(1, 1), the workspace's evidence shrunk to at
    most `prior_strength` deliveries, then the campaign's own."""
    own, prior = _totals(campaign, policy), _totals(workspace, policy)
    result = []
    for arm in arms:
        alpha = beta = 1.0
        won, tried = prior.get(arm, (0.0, 0.0))
        if tried > 0:
            scale = min(1.0, policy.prior_strength / tried)
            alpha += won * scale
            beta += (tried - won) * scale
        won, tried = own.get(arm, (0.0, 0.0))
        result.append(Posterior(arm, alpha + won, beta + tried - won))
    return tuple(result)


def choose_structure(
    campaign_id: uuid.UUID,
    sequence: int,
    campaign: Sequence[Evidence],
    workspace: Sequence[Evidence],
    policy: BanditPolicy = BanditPolicy(),
    *,
    rng: random.Random | None = None,
) -> Choice:
    """The structure email `sequence` is written with. `campaign` holds the evidence of the
    campaign's earlier emails, `workspace` that of the workspace's other campaigns; `rng`
    replaces the (campaign, sequence) seed, for simulations of many rounds."""
    seed = seed_for(campaign_id, sequence)
    draw = rng if rng is not None else random.Random(seed)
    beliefs = posteriors(campaign, workspace, policy)
    samples = tuple(draw.betavariate(p.alpha, p.beta) for p in beliefs)
    explore = draw.random() < policy.explore
    wild = draw.choice(STRUCTURES)
    if sequence <= len(STRUCTURES) and not _totals(workspace, policy):
        return Choice(structure_for(sequence), "rotation", beliefs, samples, seed)
    if explore:
        return Choice(wild, "exploration", beliefs, samples, seed)
    best = max(range(len(beliefs)), key=samples.__getitem__)
    return Choice(STRUCTURES[best], "thompson", beliefs, samples, seed)


@dataclass(frozen=True)
class PastEmail:
    """An earlier email of the campaign with its engagement, as the prompt shows it."""

    sequence: int
    subject: str
    first_line: str
    delivered: int
    clicks: int  # unique human clicks

    @property
    def click_rate(self) -> float:
        return self.clicks / self.delivered if self.delivered else 0.0


@dataclass(frozen=True)
class Results:
    """The earlier emails readers clicked most, best first, and least, weakest first."""

    worked: tuple[PastEmail, ...] = ()
    weakest: tuple[PastEmail, ...] = ()


def what_worked(emails: Sequence[PastEmail], *, examples: int, min_delivered: int) -> Results:
    """The best and the weakest of the emails delivered to at least `min_delivered` people, by
    click rate: at most `examples` of each, and never more than half the emails each, so that
    no email is both and a lone email is neither (with nothing to compare it to, it is not
    known to have worked). Ties go to the earlier email, so the order is stable."""
    ranked = sorted((e for e in emails if e.delivered >= min_delivered),
                    key=lambda e: (-e.click_rate, e.sequence))
    n = min(examples, len(ranked) // 2)
    if n == 0:
        return Results()
    return Results(tuple(ranked[:n]), tuple(reversed(ranked[-n:])))
