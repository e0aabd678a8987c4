"""Chart geometry for server-rendered SVG: grouped bars of daily counts, the report's funnel
and its rates over the sequence. Pure.

The template draws what this computes, so the page needs no chart library and no script.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from campaign_api.dashboard.numbers import number

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28
MAX_DAYS = 60  # the most recent days shown; older activity is summarised by the totals


@dataclass(frozen=True)
class Bar:
    series: str
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    series: list[str]
    baseline: float

    @property
    def empty(self) -> bool:
        return not any(bar.value for bar in self.bars)


def daily_counts(moments: Iterable[datetime], zone: ZoneInfo) -> Counter[date]:
    """How many moments fall on each local date of `zone`."""
    return Counter(moment.astimezone(zone).date() for moment in moments)


def nice_ceiling(value: int) -> int:
    """1, 2, 5 or 10 times a power of ten, at least `value` (and at least 1)."""
    if value <= 1:
        return 1
    power = int(10 ** math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def day_range(days: Iterable[date]) -> list[date]:
    """Every date from the first to the last given (at most MAX_DAYS, the latest ones)."""
    known = sorted(set(days))
    if not known:
        return []
    first = max(known[0], known[-1] - timedelta(days=MAX_DAYS - 1))
    return [first + timedelta(days=i) for i in range((known[-1] - first).days + 1)]


def bar_chart(series: Mapping[str, Counter[date]]) -> BarChart:
    days = day_range(day for counts in series.values() for day in counts)
    top = nice_ceiling(max((c[d] for c in series.values() for d in days), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_h
    slot = plot_w / max(len(days), 1)
    bar_w = min(slot * 0.8 / max(len(series), 1), 28.0)
    bars: list[Bar] = []
    for i, day in enumerate(days):
        group_x = LEFT + i * slot + (slot - bar_w * len(series)) / 2
        for j, (name, counts) in enumerate(series.items()):
            value = counts[day]
            h = plot_h * value / top
            bars.append(Bar(series=name, x=round(group_x + j * bar_w, 1), y=round(baseline - h, 1),
                            width=round(bar_w - 1, 1), height=round(h, 1), value=value,
                            label=f"{day:%d %b}: {number(value, name[:-1], name)}"))
    # Whole counts only: halfway is labelled when it is a whole number.
    steps = (0, 0.5, 1) if top % 2 == 0 else (0, 1)
    y_ticks = [Tick(round(baseline - plot_h * f, 1), _count_label(top * f)) for f in steps]
    every = max(1, math.ceil(len(days) / 8))
    x_ticks = [Tick(round(LEFT + (i + 0.5) * slot, 1), f"{day:%d %b}")
               for i, day in enumerate(days) if i % every == 0]
    return BarChart(WIDTH, HEIGHT, bars, y_ticks, x_ticks, list(series), baseline)


def _count_label(value: float) -> str:
    return f"{value:g}" if value < 1000 else f"{value / 1000:g}k"


def totals(series: Mapping[str, Counter[date]]) -> dict[str, int]:
    return {name: sum(counts.values()) for name, counts in series.items()}


def sends_by_day(emails: Sequence[tuple[datetime | None, int]], zone: ZoneInfo) -> Counter[date]:
    """Deliveries per local date of each email's send time (the read model counts per email)."""
    counts: Counter[date] = Counter()
    for send_at, sent in emails:
        if send_at is not None and sent:
            counts[send_at.astimezone(zone).date()] += sent
    return counts


# --- the report: a funnel and the rates over the sequence ---------------------------------

FUNNEL_WIDTH, FUNNEL_ROW, FUNNEL_LABEL = 440, 40, 80


@dataclass(frozen=True)
class FunnelStep:
    label: str
    value: int
    share: float  # of the first step
    y: float
    width: float
    x: float = FUNNEL_LABEL  # the bar starts after the step's name


def funnel(steps: Sequence[tuple[str, int]]) -> list[FunnelStep]:
    """Horizontal bars, each as wide as its share of the first step (delivered)."""
    first = steps[0][1] if steps else 0
    room = FUNNEL_WIDTH - FUNNEL_LABEL - 100  # the value is written after the bar
    return [FunnelStep(label, value, value / first if first else 0.0, i * FUNNEL_ROW + 6,
                       round(room * value / first, 1) if first else 0.0)
            for i, (label, value) in enumerate(steps)]


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    lines: dict[str, list[Point]]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    baseline: float

    def path(self, name: str) -> str:
        return " ".join(f"{p.x},{p.y}" for p in self.lines[name])

    @property
    def empty(self) -> bool:
        return not any(self.lines.values())


def rate_lines(series: Mapping[str, Sequence[tuple[int, float]]]) -> LineChart:
    """Rates (0..1) per email, one line per series; x is the email's place in the sequence,
    the y axis a round percentage at least the highest rate."""
    sequences = sorted({seq for points in series.values() for seq, _ in points})
    highest = max((rate for points in series.values() for _, rate in points), default=0.0)
    top = nice_ceiling(math.ceil(highest * 100)) / 100
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_h
    slot = plot_w / max(len(sequences), 1)
    x_of = {seq: round(LEFT + (i + 0.5) * slot, 1) for i, seq in enumerate(sequences)}
    lines = {name: [Point(x_of[seq], round(baseline - plot_h * rate / top, 1),
                          f"Email {seq}: {rate * 100:.1f}% {name}")
                    for seq, rate in sorted(points)]
             for name, points in series.items()}
    y_ticks = [Tick(round(baseline - plot_h * f, 1), f"{top * f * 100:g}%") for f in (0, 0.5, 1)]
    every = max(1, math.ceil(len(sequences) / 12))
    x_ticks = [Tick(x_of[seq], str(seq)) for i, seq in enumerate(sequences) if i % every == 0]
    return LineChart(WIDTH, HEIGHT, lines, y_ticks, x_ticks, baseline)
