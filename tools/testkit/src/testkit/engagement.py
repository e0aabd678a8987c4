"""An engagement simulator: synthetic contacts who open and click what they are sent, and the
machines in front of some of them that fetch every message on arrival. Pure: a contact, a
delivered email and a seeded `random.Random` in, the events that follow out. The same core
drives the benchmark in-process (`bench.learning`) and a running system through the real
tracking links of the delivered messages (`testkit.engagement_live`).

Each contact has hidden traits the learners are to discover:
- a click rate per structure and an open rate, as they are when an email reaches them at their
  best hour;
- a best local hour of the day, when they read their mail;
- what fetches their mail on arrival, if anything: Apple Mail Privacy Protection (opens every
  message within seconds, and hides the person's own opens), Gmail's image proxy (prefetches
  every message within seconds; the person's own opens come later through the same proxy), or
  a link scanner (follows every link of every message, the hidden trap link too, within
  seconds). Behind every machine there is still a person, who clicks like anyone else.

The person's model. An email sent at local hour h to a contact whose best hour is b lands
d = circular distance(h, b) hours away from when they read (0..12). It reaches them with
    reach(d) = max(REACH_FLOOR, 1 - d / 12)
(an email that arrives just before they read is on top of their inbox; one that arrived hours
earlier is under others, down to half as likely to be read). They open it with probability
open_rate * reach(d) and, having opened it, click one of its links with probability
click_rate / open_rate, so that a click always follows an open and P(click) =
click_rate * reach(d). They read it at their best hour (or, one time in STRAY, at another hour
of the day): the events come at the next such hour after the delivery, within that hour, so
the times of a contact's opens tell when they read whatever hour they were mailed at.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

Machine = Literal["apple_proxy", "google_proxy", "scanner"]
EventKind = Literal["open", "click", "trap"]

# User agents as the clients send them. Apple's proxy sends exactly "Mozilla/5.0".
BROWSER = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
           "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
APPLE_PROXY = "Mozilla/5.0"
GOOGLE_PROXY = ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
                "(via ggpht.com GoogleImageProxy)")
SCANNER = "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))"

HOURS = 24
# The least an email far from the reader's hour is read, against one sent at that hour.
REACH_FLOOR = 0.5
# The share of reads at some other hour of the day than the contact's best.
STRAY = 0.2
# When machines fetch a message: within this long after delivery.
MACHINE_WITHIN = timedelta(seconds=20)
# A person's click comes this long after their open, at least and at most.
CLICK_AFTER = (timedelta(seconds=15), timedelta(minutes=5))

# How the best hours of a population fall over the day: most read in the morning, at lunch
# and in the evening, a few at night.
READING_HOURS: tuple[float, ...] = (
    0.3, 0.2, 0.1, 0.1, 0.1, 0.3, 1.0, 3.0, 4.0, 3.0, 2.0, 2.0,
    3.0, 2.0, 1.5, 1.5, 1.5, 2.0, 3.0, 3.5, 3.5, 2.5, 1.5, 0.7,
)


@dataclass(frozen=True)
class Contact:
    email: str
    click_rates: Mapping[str, float]  # per structure, at the best hour
    open_rate: float  # at the best hour
    best_hour: int  # local, 0..23
    zone: str = "UTC"
    machine: Machine | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.best_hour < HOURS:
            raise ValueError(f"best_hour must be 0..23, not {self.best_hour}")
        if not 0 <= self.open_rate <= 1:
            raise ValueError(f"open_rate must be within 0..1, not {self.open_rate}")
        for structure, rate in self.click_rates.items():
            if not 0 <= rate <= self.open_rate:
                raise ValueError(f"click rate of {structure!r} must be within 0..open_rate")


@dataclass(frozen=True)
class Delivered:
    """One email as it reached a contact: its structure, the local hour it arrived at, and how
    many tracked links it has."""

    structure: str
    local_hour: int
    links: int


@dataclass(frozen=True)
class Event:
    kind: EventKind
    agent: str  # the user agent it is fetched with
    after: timedelta  # since delivery
    link: int | None = None  # for a click: which of the email's tracked links
    human: bool = True  # whether the simulation meant a person (the truth, not a verdict)


def distance(hour: int, best: int) -> int:
    """Hours between two hours of the day, the short way round the clock (0..12)."""
    gap = abs(hour - best) % HOURS
    return min(gap, HOURS - gap)


def reach(hour: int, best: int) -> float:
    """How likely an email arriving at `hour` is read, against one arriving at `best`."""
    return max(REACH_FLOOR, 1 - distance(hour, best) / 12)


def engage(contact: Contact, email: Delivered, rng: random.Random) -> tuple[Event, ...]:
    """What happens to one delivered email, in time order: the machine's fetches on arrival,
    then the person's open and click, if any."""
    events = list(_machine(contact.machine, email, rng))
    factor = reach(email.local_hour, contact.best_hour)
    opens = rng.random() < contact.open_rate * factor
    rate = contact.click_rates.get(email.structure, 0.0)
    clicks = opens and email.links > 0 and rng.random() * contact.open_rate < rate
    if opens:
        hour = contact.best_hour if rng.random() >= STRAY else rng.randrange(HOURS)
        wait = (hour - email.local_hour) % HOURS
        read = timedelta(hours=wait, seconds=rng.uniform(0, 3000))
        # A reader of Gmail opens through its proxy, later than any prefetch; Apple's proxy
        # served the images long before, so the person's own open is never seen.
        if contact.machine == "google_proxy":
            events.append(Event("open", GOOGLE_PROXY, max(read, timedelta(minutes=2))))
        elif contact.machine != "apple_proxy":
            events.append(Event("open", BROWSER, read))
        if clicks:
            low, high = CLICK_AFTER
            after = read + timedelta(seconds=rng.uniform(low.total_seconds(),
                                                         high.total_seconds()))
            events.append(Event("click", BROWSER, after, link=rng.randrange(email.links)))
    return tuple(sorted(events, key=lambda e: e.after))


def _machine(machine: Machine | None, email: Delivered,
             rng: random.Random) -> list[Event]:
    within = MACHINE_WITHIN.total_seconds()
    if machine == "apple_proxy":
        return [Event("open", APPLE_PROXY, timedelta(seconds=rng.uniform(1, within)),
                      human=False)]
    if machine == "google_proxy":
        return [Event("open", GOOGLE_PROXY, timedelta(seconds=rng.uniform(1, within)),
                      human=False)]
    if machine == "scanner":
        # Every link in document order, a fraction of a second apart; the trap (in the footer)
        # last.
        at = rng.uniform(1, within / 2)
        found = []
        for link in range(email.links):
            found.append(Event("click", SCANNER, timedelta(seconds=at), link=link, human=False))
            at += rng.uniform(0.1, 0.8)
        found.append(Event("trap", SCANNER, timedelta(seconds=at), human=False))
        return found
    return []


@dataclass(frozen=True)
class Population:
    """How to draw contacts: the mean rates, and the shares of each machine.

    Each contact's rates are the means times their own activity, drawn from a gamma
    distribution with mean 1 (`activity_shape`: larger is more alike), so some contacts engage
    much more than others as in any real list; their best hour is drawn from `reading_hours`
    and their zone from `zones`."""

    click_rates: Mapping[str, float]
    open_rate: float = 0.25
    apple_proxy: float = 0.0
    google_proxy: float = 0.0
    scanner: float = 0.0
    zones: Sequence[str] = ("UTC",)
    reading_hours: Sequence[float] = READING_HOURS
    activity_shape: float = 4.0
    domain: str = "sim.example"

    @property
    def machines(self) -> dict[Machine, float]:
        return {"apple_proxy": self.apple_proxy, "google_proxy": self.google_proxy,
                "scanner": self.scanner}

    def __post_init__(self) -> None:
        shares = self.machines
        if any(s < 0 for s in shares.values()) or sum(shares.values()) > 1:
            raise ValueError("machine shares must be non-negative and add up to at most 1")
        if len(self.reading_hours) != HOURS:
            raise ValueError("reading_hours needs one weight per hour of the day")
        if max(self.click_rates.values(), default=0.0) > self.open_rate:
            raise ValueError("a click rate above the open rate: every click follows an open")


def contacts(population: Population, count: int, rng: random.Random) -> list[Contact]:
    """`count` contacts drawn from `population`, addressed contact-0@..., contact-1@..."""
    found = []
    for n in range(count):
        activity = rng.gammavariate(population.activity_shape, 1 / population.activity_shape)
        open_rate = min(1.0, population.open_rate * activity)
        scale = open_rate / (population.open_rate * activity)  # 1 unless capped
        pick = rng.random()
        machine: Machine | None = None
        for name, share in population.machines.items():
            if pick < share:
                machine = name
                break
            pick -= share
        found.append(Contact(
            email=f"contact-{n}@{population.domain}",
            click_rates={s: r * activity * scale for s, r in population.click_rates.items()},
            open_rate=open_rate,
            best_hour=rng.choices(range(HOURS), weights=population.reading_hours)[0],
            zone=rng.choice(list(population.zones)),
            machine=machine,
        ))
    return found
