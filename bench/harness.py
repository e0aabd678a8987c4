"""What every benchmark reports: a table on stdout and `bench/results/<name>.json`.

Each figure is compared with a reference measured in the same run on the same machine, so the
ratio means something even on a shared, noisy host; absolute numbers across runs do not.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    reference: float | None  # the same quantity for the reference, measured in this run
    ratio: float | None  # value / reference
    target: str  # e.g. ">= 0.25" or "< 2 s"
    met: bool


def figure(name: str, value: float, unit: str, *, reference: float | None = None,
           target: str = "", met: bool = True) -> Figure:
    ratio = value / reference if reference else None
    return Figure(name, round(value, 6), unit, None if reference is None else round(reference, 6),
                  None if ratio is None else round(ratio, 4), target, met)


def report(bench: str, figures: list[Figure]) -> Path:
    table = Table(title=bench)
    for column in ("figure", "value", "unit", "reference", "ratio", "target", "met"):
        table.add_column(column)
    for f in figures:
        table.add_row(f.name, f"{f.value:g}", f.unit,
                      "" if f.reference is None else f"{f.reference:g}",
                      "" if f.ratio is None else f"{f.ratio:.3f}", f.target,
                      "yes" if f.met else "NO")
    Console().print(table)
    return write(bench, figures)


def write(bench: str, figures: list[Figure]) -> Path:
    """`bench/results/<bench>.json` alone, for a bench that prints a table of its own."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{bench}.json"
    path.write_text(json.dumps([asdict(f) for f in figures], indent=2) + "\n")
    return path
