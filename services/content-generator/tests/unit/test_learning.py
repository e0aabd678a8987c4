from __future__ import annotations

import random
import uuid
from collections import Counter

import pytest

from content_generator.domain import STRUCTURES
from content_generator.learning import (
    BanditPolicy,
    Evidence,
    PastEmail,
    choose_structure,
    posteriors,
    seed_for,
    what_worked,
)

CAMPAIGN = uuid.UUID("00000000-0000-0000-0000-0000000000c1")
NO_OPENS = BanditPolicy(open_weight=0.0)


def _strong(arm: str, delivered: int = 5000, clicks: int = 400) -> list[Evidence]:
    """A campaign whose `arm` drew far more clicks than the others."""
    return [Evidence(a, delivered, clicks if a == arm else delivered // 100) for a in STRUCTURES]


def test_the_first_round_follows_the_rotation_when_the_workspace_knows_nothing() -> None:
    chosen = [choose_structure(CAMPAIGN, k, [], []) for k in range(1, 5)]
    assert [c.arm for c in chosen] == list(STRUCTURES)
    assert {c.rule for c in chosen} == {"rotation"}


def test_a_workspace_that_learnt_something_skips_the_rotation() -> None:
    workspace = _strong("personal_story")
    chosen = [choose_structure(CAMPAIGN, 1, [], workspace, rng=random.Random(s))
              for s in range(200)]
    assert {c.rule for c in chosen} <= {"thompson", "exploration"}
    assert Counter(c.arm for c in chosen).most_common(1)[0][0] == "personal_story"


def test_posteriors_count_unique_human_clicks_over_deliveries_from_a_uniform_prior() -> None:
    beliefs = posteriors([Evidence("educational", 1000, 30), Evidence("educational", 500, 20)],
                         [], NO_OPENS)
    educational = beliefs[STRUCTURES.index("educational")]
    assert (educational.alpha, educational.beta) == (51.0, 1451.0)
    untried = beliefs[STRUCTURES.index("promotional")]
    assert (untried.alpha, untried.beta) == (1.0, 1.0)


def test_an_open_without_a_click_counts_as_a_fraction_of_a_click() -> None:
    policy = BanditPolicy(open_weight=0.1)
    (belief, *_) = posteriors([Evidence("educational", 1000, clicks=30, opens=230)], [], policy)
    assert belief.alpha == pytest.approx(1 + 30 + 0.1 * 200)
    assert belief.alpha + belief.beta == pytest.approx(1002)


def test_the_workspace_prior_weighs_at_most_prior_strength_deliveries() -> None:
    policy = BanditPolicy(open_weight=0.0, prior_strength=100)
    (belief, *_) = posteriors([], [Evidence("educational", 10_000, 500)], policy)
    # The workspace's 5% click rate, worth 100 deliveries.
    assert (belief.alpha, belief.beta) == pytest.approx((1 + 5, 1 + 95))


def test_emails_not_yet_delivered_teach_nothing() -> None:
    assert posteriors([Evidence("educational", 0, 0)], []) == posteriors([], [])


def test_the_same_email_always_draws_the_same_arm() -> None:
    evidence = [Evidence(a, 1000, 20 + i) for i, a in enumerate(STRUCTURES)]
    first = choose_structure(CAMPAIGN, 9, evidence, [])
    again = choose_structure(CAMPAIGN, 9, evidence, [])
    assert first == again
    assert first.seed == seed_for(CAMPAIGN, 9)
    assert len(first.samples) == len(first.posteriors) == len(STRUCTURES)


def test_thompson_sampling_picks_the_arm_with_the_highest_draw() -> None:
    evidence = [Evidence(a, 1000, 20 + 5 * i) for i, a in enumerate(STRUCTURES)]
    for k in range(5, 60):
        choice = choose_structure(CAMPAIGN, k, evidence, [], BanditPolicy(explore=0.0))
        assert choice.rule == "thompson"
        assert choice.arm == STRUCTURES[choice.samples.index(max(choice.samples))]


def test_a_clearly_better_arm_wins_most_emails_but_the_others_are_still_explored() -> None:
    policy = BanditPolicy(explore=0.1)
    chosen = Counter(choose_structure(CAMPAIGN, k, _strong("promotional"), [], policy).rule
                     for k in range(5, 1005))
    arms = Counter(choose_structure(CAMPAIGN, k, _strong("promotional"), [], policy).arm
                   for k in range(5, 1005))
    assert 60 <= chosen["exploration"] <= 140
    assert arms["promotional"] >= 900
    assert all(arms[a] > 0 for a in STRUCTURES)


def test_an_arm_never_tried_is_drawn_before_the_tried_ones() -> None:
    evidence = [Evidence(a, 1000, 30) for a in STRUCTURES if a != "personal_story"]
    choice = choose_structure(CAMPAIGN, 5, evidence, [], BanditPolicy(explore=0.0))
    assert choice.arm == "personal_story"


def test_close_arms_are_both_drawn() -> None:
    evidence = [Evidence("educational", 1000, 30), Evidence("promotional", 1000, 31),
                Evidence("personal_story", 1000, 5), Evidence("professional_direct", 1000, 5)]
    arms = Counter(choose_structure(CAMPAIGN, k, evidence, [], BanditPolicy(explore=0.0)).arm
                   for k in range(5, 405))
    assert arms["educational"] > 100
    assert arms["promotional"] > 100


def _email(sequence: int, clicks: int, delivered: int = 100) -> PastEmail:
    return PastEmail(sequence, f"Subject {sequence}", "Opening.", delivered, clicks)


def test_what_worked_is_the_best_by_click_rate_and_the_weakest_apart() -> None:
    emails = [_email(1, 5), _email(2, 12, delivered=200), _email(3, 9), _email(4, 1),
              _email(5, 3)]
    results = what_worked(emails, examples=2, min_delivered=50)
    assert [e.sequence for e in results.worked] == [3, 2]  # 9% then 6%
    assert [e.sequence for e in results.weakest] == [4, 5]  # 1% then 3%


def test_emails_delivered_to_too_few_people_are_neither_best_nor_weakest() -> None:
    emails = [_email(1, 30, delivered=49), _email(2, 2), _email(3, 6), _email(4, 0, delivered=10)]
    results = what_worked(emails, examples=2, min_delivered=50)
    assert [e.sequence for e in results.worked] == [3]
    assert [e.sequence for e in results.weakest] == [2]


def test_a_lone_email_is_not_known_to_have_worked_and_none_is_both() -> None:
    assert what_worked([_email(1, 9)], examples=2, min_delivered=50).worked == ()
    three = what_worked([_email(1, 9), _email(2, 5), _email(3, 1)], examples=2,
                        min_delivered=50)
    assert ([e.sequence for e in three.worked], [e.sequence for e in three.weakest]) == (
        [1], [3])
