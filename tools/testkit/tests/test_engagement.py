"""The engagement simulator's core: contacts, the machines in front of some of them, and the
events one delivered email leads to, each read the way campaign-api's rules read them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from campaign_api.engagement_rules import classify_click, classify_open, user_agent
from testkit.engagement import (
    BROWSER,
    Contact,
    Delivered,
    Event,
    Population,
    contacts,
    distance,
    engage,
    reach,
)

RATES = {"educational": 0.06, "promotional": 0.02}
EMAIL = Delivered("educational", local_hour=19, links=3)


def person(machine: str | None = None, **overrides: object) -> Contact:
    traits: dict[str, object] = {"email": "ann@sim.example", "click_rates": RATES,
                                 "open_rate": 0.3, "best_hour": 19, "machine": machine}
    return Contact(**{**traits, **overrides})  # type: ignore[arg-type]


def many(contact: Contact, email: Delivered = EMAIL, times: int = 4000,
         seed: int = 7) -> list[tuple[Event, ...]]:
    rng = random.Random(seed)
    return [engage(contact, email, rng) for _ in range(times)]


def open_verdict(event: Event) -> tuple[bool, str | None]:
    verdict = classify_open(user_agent(event.agent), since_delivery=event.after)
    return verdict.human, verdict.reason


def test_the_same_seed_gives_the_same_events() -> None:
    assert many(person("scanner"), seed=3) == many(person("scanner"), seed=3)
    assert many(person(), seed=3) != many(person(), seed=4)


def test_a_persons_click_rate_is_their_structures_at_their_best_hour() -> None:
    runs = many(person(), times=20000)
    clicked = sum(any(e.kind == "click" for e in run) for run in runs) / len(runs)
    opened = sum(any(e.kind == "open" for e in run) for run in runs) / len(runs)
    assert clicked == pytest.approx(0.06, abs=0.006)
    assert opened == pytest.approx(0.3, abs=0.015)
    other = many(person(), Delivered("promotional", 19, 3), times=20000)
    assert sum(any(e.kind == "click" for e in run) for run in other) / 20000 == pytest.approx(
        0.02, abs=0.004)


def test_an_email_far_from_the_best_hour_is_read_less_down_to_half() -> None:
    assert distance(23, 1) == 2
    assert distance(7, 19) == 12
    assert reach(19, 19) == 1.0
    assert reach(16, 19) == 0.75
    assert reach(7, 19) == 0.5
    runs = many(person(), Delivered("educational", 7, 3), times=20000)
    opened = sum(any(e.kind == "open" for e in run) for run in runs) / len(runs)
    assert opened == pytest.approx(0.15, abs=0.012)


def test_a_person_reads_at_their_best_hour_whenever_they_were_mailed() -> None:
    sent = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    runs = many(person(), Delivered("educational", 7, 3))
    hours = [(sent + e.after).hour for run in runs for e in run if e.kind == "open"]
    assert sum(h == 19 for h in hours) / len(hours) > 0.75


def test_a_persons_click_follows_their_open_and_reads_as_a_persons() -> None:
    runs = [run for run in many(person()) if any(e.kind == "click" for e in run)]
    assert runs
    for run in runs:
        assert [e.kind for e in run] == ["open", "click"]
        opened, clicked = run
        assert clicked.after - opened.after >= timedelta(seconds=15)
        assert open_verdict(opened) == (True, None)
        assert clicked.agent == BROWSER
        assert clicked.human
        assert clicked.link in range(EMAIL.links)


def test_apples_proxy_opens_every_message_at_once_and_hides_the_persons_opens() -> None:
    for run in many(person("apple_proxy"), times=500):
        opens = [e for e in run if e.kind == "open"]
        assert len(opens) == 1
        assert opens[0].after < timedelta(seconds=30)
        assert not opens[0].human
        assert open_verdict(opens[0]) == (False, "apple_privacy_proxy")
    # The person behind the proxy still clicks, in a browser.
    assert any(e.kind == "click" and e.human for run in many(person("apple_proxy"))
               for e in run)


def test_gmails_proxy_prefetches_at_once_and_brings_the_persons_opens_later() -> None:
    runs = many(person("google_proxy"), times=2000)
    for run in runs:
        first = run[0]
        assert (first.kind, first.human) == ("open", False)
        assert open_verdict(first) == (False, "proxy_prefetch")
    later = [e for run in runs for e in run[1:] if e.kind == "open"]
    assert later
    assert all(open_verdict(e) == (True, None) for e in later)


def test_a_scanner_follows_every_link_and_the_trap_within_seconds() -> None:
    for run in many(person("scanner"), times=200):
        machine = [e for e in run if not e.human]
        assert [e.kind for e in machine] == ["click"] * EMAIL.links + ["trap"]
        assert [e.link for e in machine[:-1]] == list(range(EMAIL.links))
        assert all(e.after < timedelta(seconds=30) for e in machine)
        sent = datetime(2026, 12, 1, 19, tzinfo=UTC)
        first = machine[0]
        verdict = classify_click(user_agent(first.agent), url="https://example.com/a",
                                 at=sent + first.after, earlier=(), links=EMAIL.links)
        assert verdict.verdict.reason == "bot_user_agent"


def test_a_contact_with_impossible_traits_is_refused() -> None:
    with pytest.raises(ValueError, match="best_hour"):
        person(best_hour=24)
    with pytest.raises(ValueError, match="click rate"):
        person(click_rates={"educational": 0.5}, open_rate=0.3)
    with pytest.raises(ValueError, match="machine shares"):
        Population(RATES, apple_proxy=0.7, scanner=0.5)


def test_a_population_has_its_shares_of_machines_and_its_mean_rates() -> None:
    drawn = contacts(Population(RATES, apple_proxy=0.3, scanner=0.1, zones=("Europe/Paris",
                                                                          "America/Chicago")),
                     10000, random.Random(1))
    assert len({c.email for c in drawn}) == 10000
    share = {m: sum(c.machine == m for c in drawn) / len(drawn)
             for m in ("apple_proxy", "google_proxy", "scanner", None)}
    assert share["apple_proxy"] == pytest.approx(0.3, abs=0.02)
    assert share["scanner"] == pytest.approx(0.1, abs=0.01)
    assert share["google_proxy"] == 0
    mean = sum(c.click_rates["educational"] for c in drawn) / len(drawn)
    assert mean == pytest.approx(0.06, rel=0.05)
    assert {c.zone for c in drawn} == {"Europe/Paris", "America/Chicago"}
    hours = [c.best_hour for c in drawn]
    assert sum(7 <= h <= 9 for h in hours) > sum(0 <= h <= 4 for h in hours) * 5
