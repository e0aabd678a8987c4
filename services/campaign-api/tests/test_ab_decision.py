"""The A/B test decision rule: a variant at least 95% likely to be best by Beta posteriors
wins by probability; else the best observed rate at the deadline wins; the same counts and
seed always decide the same."""

from __future__ import annotations

import pytest

from campaign_api.ab_decision import SliceCounts, decide, probabilities_best

SEED = 20260312


def test_a_clear_leader_wins_by_probability() -> None:
    decision = decide([SliceCounts("A", 500, 10), SliceCounts("B", 500, 40)], seed=SEED)

    assert (decision.winner, decision.rule) == ("B", "probability")
    a, b = decision.results
    assert b.probability_best is not None
    assert b.probability_best >= 0.95
    assert (a.rate, b.rate) == (0.02, 0.08)


def test_without_a_95_percent_leader_the_best_rate_wins() -> None:
    decision = decide([SliceCounts("A", 100, 5), SliceCounts("B", 100, 6)], seed=SEED)

    assert (decision.winner, decision.rule) == ("B", "best_rate")
    assert decision.results[1].probability_best is not None
    assert decision.results[1].probability_best < 0.95


def test_equal_rates_go_to_the_variant_with_more_deliveries_then_the_earlier_key() -> None:
    assert decide([SliceCounts("A", 50, 1), SliceCounts("B", 100, 2)], seed=SEED).winner == "B"
    assert decide([SliceCounts("A", 10, 0), SliceCounts("B", 10, 0),
                   SliceCounts("C", 10, 0)], seed=SEED).winner == "A"


def test_no_signal_at_all_keeps_the_email_as_first_written() -> None:
    decision = decide([SliceCounts("A", 0, 0), SliceCounts("B", 0, 0)], seed=SEED)

    assert (decision.winner, decision.rule) == ("A", "best_rate")


def test_the_same_counts_and_seed_decide_the_same_every_time() -> None:
    slices = [SliceCounts("A", 200, 9), SliceCounts("B", 200, 14), SliceCounts("C", 200, 11)]

    assert decide(slices, seed=SEED) == decide(list(reversed(slices)), seed=SEED)


def test_the_probabilities_of_being_best_add_up_to_one_and_favour_the_better() -> None:
    chances = probabilities_best([SliceCounts("A", 300, 6), SliceCounts("B", 300, 12),
                                  SliceCounts("C", 300, 9), SliceCounts("D", 300, 3)],
                                 seed=SEED)

    assert sum(chances.values()) == pytest.approx(1.0)
    assert chances["B"] > chances["C"] > chances["A"] > chances["D"]
