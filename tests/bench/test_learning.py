"""The learning benchmark's simulation, on populations small enough for a test: it labels
engagement as campaign-api does, and both of its campaigns run and learn."""

from __future__ import annotations

import random
from datetime import timedelta

from bench.learning import (
    BEST,
    LINKS,
    StructureRun,
    outcome,
    population,
    sendtime_run,
    structure_figures,
    structure_run,
)
from content_generator.domain import STRUCTURES, structure_for
from testkit.engagement import (
    APPLE_PROXY,
    BROWSER,
    GOOGLE_PROXY,
    SCANNER,
    Contact,
    Event,
    Population,
    contacts,
)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def test_a_persons_open_and_click_count_and_a_proxys_prefetch_does_not() -> None:
    person = outcome([Event("open", BROWSER, seconds(600)),
                      Event("click", BROWSER, seconds(660), link=1)], LINKS)
    assert (person.human_open, person.human_click) == (True, True)
    assert person.human_at == (seconds(600), seconds(660))
    apple = outcome([Event("open", APPLE_PROXY, seconds(3), human=False)], LINKS)
    assert (apple.human_open, apple.human_click, apple.human_at) == (False, False, ())
    gmail = outcome([Event("open", GOOGLE_PROXY, seconds(5), human=False),
                     Event("open", GOOGLE_PROXY, seconds(4000))], LINKS)
    assert (gmail.human_open, gmail.human_at) == (True, (seconds(4000),))


def test_a_scanners_pass_counts_for_nothing_and_takes_a_click_right_after_the_trap() -> None:
    scanned = [Event("click", SCANNER, seconds(2 + n), link=n, human=False)
               for n in range(LINKS)]
    trap = Event("trap", SCANNER, seconds(6), human=False)
    assert not outcome([*scanned, trap], LINKS).human_click
    # A browser's click within a minute of the trap is the scanner's too; an hour on, a person's.
    soon = outcome([trap, Event("click", BROWSER, seconds(30), link=0)], LINKS)
    later = outcome([trap, Event("click", BROWSER, seconds(3600), link=0)], LINKS)
    assert (soon.human_click, later.human_click) == (False, True)


def test_the_bandit_starts_with_the_rotation_and_comes_to_prefer_a_clearly_better_arm() -> None:
    rates: dict[str, float] = {s: 0.3 if s == BEST else 0.05 for s in STRUCTURES}
    people = contacts(Population(rates, open_rate=0.5, apple_proxy=0.3),
                      300, random.Random(1))
    run = structure_run(people, seed=1, emails=16)
    assert run.bandit[:4] == tuple(structure_for(n) for n in range(1, 5))
    assert sum(arm == BEST for arm in run.bandit[8:]) >= 6
    assert run.rotation_clicks < run.bandit_clicks <= run.oracle_clicks * 1.1
    names = [f.name for f in structure_figures([run])]
    assert any("best structure" in name for name in names)


def test_the_figures_judge_the_late_emails_and_the_clicks_against_the_rotation() -> None:
    arms = (*[STRUCTURES[0]] * 12, *[BEST] * 9, *[STRUCTURES[0]] * 3)
    figures = {f.name: f for f in structure_figures([StructureRun(arms, 120, 100, 130)])}
    share = figures["share of emails 13-24 with the best structure"]
    assert (share.value, share.met) == (0.75, True)
    clicks = figures["people's clicks, bandit against the rotation"]
    assert (clicks.ratio, clicks.met) == (1.2, True)


def test_learned_send_hours_beat_one_fixed_hour_for_readers_who_keep_to_theirs() -> None:
    readers = [Contact(f"r{n}@sim.example", {s: 0.4 for s in STRUCTURES}, open_rate=0.9,
                       best_hour=(20 + n) % 24, zone="Europe/Amsterdam") for n in range(40)]
    run = sendtime_run(readers, seed=2, emails=12)
    assert len(run.optimised_clicks) == len(run.fixed_clicks) == 12
    assert run.learned == len(readers)
    assert sum(run.optimised_opens[6:]) > 1.2 * sum(run.fixed_opens[6:])


def test_the_benchmarks_population_is_what_it_says() -> None:
    people = contacts(population(), 2000, random.Random(3))
    share = sum(c.machine in ("apple_proxy", "google_proxy") for c in people) / len(people)
    assert abs(share - 0.3) < 0.03
    best = sum(c.click_rates[BEST] for c in people) / len(people)
    other = sum(c.click_rates[STRUCTURES[0]] for c in people) / len(people)
    assert abs(best / other - 1.5) < 1e-9
