"""The crash suite's short profile (`make chaos` runs the full one): the same harness, fewer
emails and the scenarios that matter most, each held to its targets."""

from __future__ import annotations

import pytest

from bench.chaos.profiles import SHORT
from bench.chaos.run import Outcome, run_profile
from testkit.fake_openrouter import FakeOpenRouter

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def outcomes(fake_llm: FakeOpenRouter) -> dict[str, Outcome]:
    # Every scenario bounds its own time (faults, creation and settling each have a deadline).
    return {o.scenario.slug: o for o in run_profile(SHORT, fake_llm)}


@pytest.mark.timeout(1500)
@pytest.mark.parametrize("slug", [s.slug for s in SHORT.scenarios])
def test_nothing_is_lost_unexpected_or_duplicated_beyond_the_documented_bound(
    outcomes: dict[str, Outcome], slug: str
) -> None:
    outcome = outcomes[slug]
    problems, t = outcome.problems(), outcome.tally
    assert not problems, (f"{outcome.scenario.title}: {'; '.join(problems)} (received"
                          f" {t.received} for {t.expected} recipients, {outcome.faults} faults)")
