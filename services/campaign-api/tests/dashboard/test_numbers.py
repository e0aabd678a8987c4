"""Counts on the dashboard: thousands separators and CLDR plurals, from one filter."""

from __future__ import annotations

from campaign_api.dashboard.numbers import number


def test_a_count_is_grouped_by_thousands() -> None:
    assert [number(n) for n in (0, 7, 1_234, 1_234_567)] == ["0", "7", "1,234", "1,234,567"]


def test_the_noun_agrees_with_the_count() -> None:
    assert [number(n, "email") for n in (0, 1, 2, 10_000)] == [
        "0 emails", "1 email", "2 emails", "10,000 emails"]
    assert number(1, "person", "people") == "1 person"
    assert number(3, "person", "people") == "3 people"
