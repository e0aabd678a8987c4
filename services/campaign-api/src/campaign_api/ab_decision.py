"""The rule that decides an A/B test at the end of its window. Pure, no I/O.

Each variant's rate (unique human clicks, or unique human opens, over its slice's deliveries)
has a Beta(1 + successes, 1 + delivered - successes) posterior, a uniform prior updated by
what the slice did. The probability that a variant is the best is estimated from seeded draws
of every posterior (the same counts and seed give the same answer, so a decision made again
after a crash is the same decision). The winner is:

- the variant whose probability to be best is at least `threshold` (95%): rule "probability";
- else the variant with the best observed rate, ties to the one with more deliveries, then to
  the earlier key: rule "best_rate". With no signal at all that is variant A, the email as
  first written.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from contracts.ab_tests import DecisionRule, VariantKey, VariantResult

THRESHOLD = 0.95
DRAWS = 20_000


@dataclass(frozen=True)
class SliceCounts:
    key: VariantKey
    delivered: int
    successes: int

    @property
    def rate(self) -> float:
        return self.successes / self.delivered if self.delivered else 0.0


@dataclass(frozen=True)
class Decision:
    winner: VariantKey
    rule: DecisionRule
    results: tuple[VariantResult, ...]


def probabilities_best(slices: Sequence[SliceCounts], *, seed: int,
                       draws: int = DRAWS) -> dict[VariantKey, float]:
    """Per variant, the share of `draws` joint draws of the posteriors in which it is the
    best (a tie counts for the earlier key)."""
    rng = random.Random(seed)
    wins = dict.fromkeys((s.key for s in slices), 0)
    shapes = [(s.key, 1 + s.successes, 1 + max(0, s.delivered - s.successes)) for s in slices]
    for _ in range(draws):
        best_key, best = shapes[0][0], -1.0
        for key, alpha, beta in shapes:
            value = rng.betavariate(alpha, beta)
            if value > best:
                best_key, best = key, value
        wins[best_key] += 1
    return {key: n / draws for key, n in wins.items()}


def decide(slices: Sequence[SliceCounts], *, seed: int,
           threshold: float = THRESHOLD) -> Decision:
    """The winner of a test by the rule above, and every variant's counts with it."""
    if not slices:
        raise ValueError("slices: a test has at least two variants")
    ordered = sorted(slices, key=lambda s: s.key)
    chances = probabilities_best(ordered, seed=seed)
    results = tuple(VariantResult(key=s.key, delivered=s.delivered, successes=s.successes,
                                  rate=s.rate, probability_best=chances[s.key])
                    for s in ordered)
    likeliest = max(ordered, key=lambda s: chances[s.key])
    if chances[likeliest.key] >= threshold:
        return Decision(likeliest.key, "probability", results)
    best = min(ordered, key=lambda s: (-s.rate, -s.delivered, s.key))
    return Decision(best.key, "best_rate", results)
