"""Chart geometry: bars scale to a round maximum, and days without activity keep their place;
the funnel's steps are their share of the first, the rates' scale a round percentage."""

from __future__ import annotations

from collections import Counter
from datetime import date

from campaign_api.dashboard.charts import (
    HEIGHT,
    bar_chart,
    day_range,
    funnel,
    nice_ceiling,
    rate_lines,
)


def test_the_scale_ends_on_a_round_number() -> None:
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 10, 11, 180, 2001)] == [
        1, 1, 5, 10, 10, 20, 200, 5000]


def test_days_between_are_filled_in_and_old_ones_dropped() -> None:
    assert day_range([date(2026, 1, 3), date(2026, 1, 1)]) == [
        date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)]
    assert len(day_range([date(2025, 1, 1), date(2026, 1, 1)])) == 60


def test_bars_are_proportional_and_grouped_by_day() -> None:
    chart = bar_chart({
        "sends": Counter({date(2026, 1, 1): 40, date(2026, 1, 3): 20}),
        "opens": Counter({date(2026, 1, 1): 10}),
    })
    assert [t.label for t in chart.y_ticks] == ["0", "25", "50"]
    by_value = {(b.series, b.value): b for b in chart.bars}
    full = chart.baseline - chart.y_ticks[-1].position
    assert by_value[("sends", 40)].height == round(full * 40 / 50, 1)
    assert by_value[("sends", 20)].height == round(full * 20 / 50, 1)
    assert len(chart.bars) == 3 * 2  # three days (one empty), two series
    assert all(0 <= b.y <= HEIGHT for b in chart.bars)
    assert not chart.empty


def test_no_activity_is_an_empty_chart() -> None:
    assert bar_chart({"sends": Counter(), "opens": Counter()}).empty


def test_each_funnel_step_is_as_wide_as_its_share_of_the_deliveries() -> None:
    delivered, opened, clicked = funnel([("Delivered", 200), ("Opened", 50), ("Clicked", 10)])
    assert (opened.share, clicked.share) == (0.25, 0.05)
    assert opened.width == round(delivered.width * 0.25, 1)
    assert clicked.width == round(delivered.width * 0.05, 1)
    assert delivered.y < opened.y < clicked.y
    assert [s.width for s in funnel([("Delivered", 0), ("Opened", 0)])] == [0.0, 0.0]


def test_rates_are_drawn_on_a_round_percentage_in_sequence_order() -> None:
    chart = rate_lines({"clicked": [(2, 0.03), (1, 0.012)], "opened": [(1, 0.3), (2, 0.45)]})
    assert [t.label for t in chart.y_ticks] == ["0%", "25%", "50%"]
    first, second = chart.lines["clicked"]
    assert first.x < second.x
    assert first.label == "Email 1: 1.2% clicked"
    full = chart.baseline - chart.y_ticks[-1].position
    assert second.y == round(chart.baseline - full * 0.03 / 0.5, 1)
    assert chart.path("opened").count(",") == 2
    assert rate_lines({"opened": [], "clicked": []}).empty
