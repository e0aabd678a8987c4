"""The learning loop over simulated contacts, in-process: the structure bandit and send-time
optimisation, each against what it replaces, in the same simulation.

Contacts come from `testkit.engagement` (its docstring states the model of a person): 5,000,
one structure truly best (3.0% click rate against 2.0% for the other three), 20% behind Apple
Mail Privacy Protection and 10% behind Gmail's image proxy (30% whose every message is opened
by a proxy within seconds), 5% behind a link scanner, in four time zones. Every open and click
the simulator makes is read by campaign-api's own rules (`campaign_api.engagement_rules`), the
trap link's relabelling of a scanner's earlier clicks included, so only what campaign-api would
count as a person's teaches anything.

Structures. A campaign of 24 emails, each sent to every contact at their best hour (so that
the click rates are as stated). Three policies are mailed to the same contacts in each run:
- the bandit: `content_generator.learning.choose_structure` over the Evidence (delivered,
  unique human clicks, unique human opens) of the campaign's earlier emails, each complete
  (the simulated engagement comes within a day, inside the reward window), seeded;
- the rotation the bandit replaces (`content_generator.domain.structure_for`);
- an oracle that always sends the best structure (the regret is its clicks less the bandit's).
Figures are sums over `RUNS` seeded runs.

Send times. 24 emails, three days apart (so every weekday comes up), one structure per email
by the rotation, to the same contacts twice: once at one fixed local hour for all (10:00, the
best single hour for this population), once each contact at their learned hour for the email's
weekday (`campaign_api.sendtime_learning.preferred_hours` over their people's opens and clicks
per local hour of the week so far, with the pattern of all contacts as the prior), the fixed
hour while too little is known. A contact's hours are learned anew whenever they engage.
"""

from __future__ import annotations

import functools
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bench.harness import Figure, figure, report
from campaign_api.engagement_rules import EarlierClick, classify_click, classify_open, user_agent
from campaign_api.sendtime_learning import (
    HOURS_OF_WEEK,
    hour_of_week,
    preferred_hours,
    workspace_pattern,
)
from content_generator.domain import STRUCTURES, structure_for
from content_generator.learning import Evidence, choose_structure
from testkit.engagement import Contact, Delivered, Event, Population, contacts, engage

CONTACTS = 5_000
EMAILS = 24
RUNS = 10
SENDTIME_RUNS = 3
LINKS = 3  # tracked links per email
BEST = STRUCTURES[2]  # not the rotation's first: the first round gives it no head start
FIXED_HOUR = 9  # the campaigns' default send time
ZONES = ("Europe/Amsterdam", "America/New_York", "Asia/Tokyo", "UTC")
FIRST_DAY = date(2026, 1, 5)  # a Monday
# Where the target is judged: the emails after the bandit has had time to learn.
LATE = range(13, EMAILS + 1)


def population(best: str = BEST) -> Population:
    return Population(
        click_rates={s: 0.03 if s == best else 0.02 for s in STRUCTURES}, open_rate=0.25,
        apple_proxy=0.2, google_proxy=0.1, scanner=0.05, zones=ZONES)


@dataclass(frozen=True)
class Outcome:
    """What campaign-api would count of one delivery: a person's open, a person's click, and
    the local times of every event it labels a person's."""

    human_open: bool
    human_click: bool
    human_at: tuple[timedelta, ...]


_NOTHING = Outcome(human_open=False, human_click=False, human_at=())
# The same function, remembered: the simulation sends a handful of user agents millions of times.
_agent = functools.cache(user_agent)


def outcome(events: Sequence[Event], links: int) -> Outcome:
    """Each open and click labelled as campaign-api labels it when it is recorded."""
    if not events:
        return _NOTHING
    sent = datetime(2026, 1, 5, tzinfo=UTC)  # only the times between events matter
    opened = False
    human_at: list[timedelta] = []
    clicks: list[EarlierClick] = []
    click_after: dict[int, timedelta] = {}
    for n, event in enumerate(events):
        agent = _agent(event.agent)
        if event.kind == "open":
            if classify_open(agent, since_delivery=event.after).human:
                opened = True
                human_at.append(event.after)
            continue
        url = None if event.kind == "trap" else f"https://shop.example/{event.link}"
        at = sent + event.after
        verdict = classify_click(agent, url=url, at=at, earlier=clicks, links=links)
        relabelled = set(verdict.relabel)
        clicks = [EarlierClick(c.id, c.url, c.at, False) if c.id in relabelled else c
                  for c in clicks]
        clicks.append(EarlierClick(n, url, at, verdict.verdict.human))
        click_after[n] = event.after
    human = [c for c in clicks if c.human]
    human_at.extend(click_after[c.id] for c in human)
    return Outcome(opened, bool(human), tuple(human_at))


def send(people: Sequence[Contact], structure: str, rng: random.Random) -> Evidence:
    """One email to everyone at their best hour: what the bandit learns from it."""
    opens = clicks = 0
    for contact in people:
        events = engage(contact, Delivered(structure, contact.best_hour, LINKS), rng)
        if not events:  # most deliveries: nothing happened, nothing to label
            continue
        seen = outcome(events, LINKS)
        opens += seen.human_open
        clicks += seen.human_click
    return Evidence(structure, delivered=len(people), clicks=clicks, opens=opens)


@dataclass(frozen=True)
class StructureRun:
    bandit: tuple[str, ...]  # the structure of each email
    bandit_clicks: int
    rotation_clicks: int
    oracle_clicks: int


def structure_run(people: Sequence[Contact], seed: int, emails: int = EMAILS,
                  best: str = BEST) -> StructureRun:
    """The bandit, the rotation and the oracle over `emails` emails to `people`."""
    campaign = uuid.UUID(int=seed)
    draws, engagement = random.Random(seed), random.Random(seed + 1)
    evidence: list[Evidence] = []
    rotation = oracle = 0
    for sequence in range(1, emails + 1):
        arm = choose_structure(campaign, sequence, evidence, (), rng=draws).arm
        evidence.append(send(people, arm, engagement))
        rotation += send(people, structure_for(sequence), engagement).clicks
        oracle += send(people, best, engagement).clicks
    return StructureRun(tuple(e.arm for e in evidence), sum(e.clicks for e in evidence),
                        rotation, oracle)


@dataclass(frozen=True)
class SendTimeRun:
    # Per email: people's clicks and people's opens (unique, one per delivery at most).
    optimised_clicks: tuple[int, ...]
    fixed_clicks: tuple[int, ...]
    optimised_opens: tuple[int, ...]
    fixed_opens: tuple[int, ...]
    learned: int  # contacts with learned hours at the end


def sendtime_run(people: Sequence[Contact], seed: int, emails: int = EMAILS) -> SendTimeRun:
    """Each email at the fixed hour, and at each contact's learned hour, to `people`."""
    rng = random.Random(seed)
    counts = [[0] * HOURS_OF_WEEK for _ in people]
    workspace = [0] * HOURS_OF_WEEK
    hours: list[tuple[int, ...] | None] = [None] * len(people)
    clicks: dict[str, list[int]] = {"optimised": [], "fixed": []}
    opens: dict[str, list[int]] = {"optimised": [], "fixed": []}
    for sequence in range(1, emails + 1):
        day = FIRST_DAY + timedelta(days=3 * (sequence - 1))
        structure = structure_for(sequence)
        prior = workspace_pattern(workspace)
        tally = {"optimised": [0, 0], "fixed": [0, 0]}
        for n, contact in enumerate(people):
            seen = outcome(engage(contact, Delivered(structure, FIXED_HOUR, LINKS), rng), LINKS)
            tally["fixed"][0] += seen.human_click
            tally["fixed"][1] += seen.human_open
            learned = hours[n]
            hour = FIXED_HOUR if learned is None else learned[day.weekday()]
            seen = outcome(engage(contact, Delivered(structure, hour, LINKS), rng), LINKS)
            tally["optimised"][0] += seen.human_click
            tally["optimised"][1] += seen.human_open
            if not seen.human_at:
                continue
            sent = datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(contact.zone))
            for after in seen.human_at:
                bin_ = hour_of_week(sent + after, contact.zone)
                counts[n][bin_] += 1
                workspace[bin_] += 1
            hours[n] = preferred_hours(counts[n], prior)
        for arm, (clicked, opened) in tally.items():
            clicks[arm].append(clicked)
            opens[arm].append(opened)
    return SendTimeRun(tuple(clicks["optimised"]), tuple(clicks["fixed"]),
                       tuple(opens["optimised"]), tuple(opens["fixed"]),
                       sum(h is not None for h in hours))


def structure_figures(runs: Sequence[StructureRun]) -> list[Figure]:
    late = [arm for run in runs for sequence, arm in enumerate(run.bandit, 1)
            if sequence in LATE]
    share = sum(arm == BEST for arm in late) / len(late)
    bandit = sum(r.bandit_clicks for r in runs)
    rotation = sum(r.rotation_clicks for r in runs)
    oracle = sum(r.oracle_clicks for r in runs)
    return [
        figure(f"share of emails {LATE.start}-{LATE.stop - 1} with the best structure", share,
               "share", target=">= 0.70", met=share >= 0.70),
        figure("people's clicks, bandit against the rotation", bandit, "clicks",
               reference=rotation, target=">= 1.15x", met=bandit >= 1.15 * rotation),
        figure("people's clicks, bandit against the oracle", bandit, "clicks",
               reference=oracle, target="(regret below)"),
        figure("regret: the oracle's clicks less the bandit's, per run",
               (oracle - bandit) / len(runs), "clicks"),
    ]


def sendtime_figures(runs: Sequence[SendTimeRun]) -> list[Figure]:
    def total(field: str, emails: range = range(1, EMAILS + 1)) -> int:
        return sum(getattr(run, field)[n - 1] for run in runs for n in emails
                   if n <= len(getattr(run, field)))

    optimised, fixed = total("optimised_clicks"), total("fixed_clicks")
    late_optimised, late_fixed = total("optimised_clicks", LATE), total("fixed_clicks", LATE)
    return [
        figure("people's clicks, learned send hours against one fixed hour", optimised,
               "clicks", reference=fixed, target=">= 1.10x", met=optimised >= 1.10 * fixed),
        figure(f"the same, emails {LATE.start}-{LATE.stop - 1}", late_optimised, "clicks",
               reference=late_fixed),
        figure("people's opens, learned send hours against one fixed hour",
               total("optimised_opens"), "opens", reference=total("fixed_opens")),
        figure("contacts with learned send hours at the end, per run",
               sum(r.learned for r in runs) / len(runs), "contacts"),
    ]


def main() -> None:
    start = time.process_time()
    runs = []
    for seed in range(RUNS):
        people = contacts(population(), CONTACTS, random.Random(1000 + seed))
        runs.append(structure_run(people, seed))
    sendtime = []
    for seed in range(SENDTIME_RUNS):
        people = contacts(population(), CONTACTS, random.Random(2000 + seed))
        sendtime.append(sendtime_run(people, seed=3000 + seed))
    cpu = time.process_time() - start
    report("learning", [
        figure("contacts", CONTACTS, "contacts"),
        figure("emails per campaign", EMAILS, "emails"),
        figure("seeded runs of the structure bandit", RUNS, "runs"),
        figure("seeded runs of send-time optimisation", SENDTIME_RUNS, "runs"),
        *structure_figures(runs),
        *sendtime_figures(sendtime),
        figure("CPU time of the whole simulation", cpu, "s", target="< 60", met=cpu < 60),
    ])
