"""The crash suite, `make chaos`: the system started as `make up` starts it, with the fake
OpenRouter as its LLM, and in turn each service SIGKILLed at random moments, each one stopped
with SIGTERM mid-work and started again, NATS killed and paused, PostgreSQL stopped with an
immediate shutdown, the LLM and the SMTP server misbehaving; each scenario sends 10,000 emails
to unique recipients of its own, so that every fault lands while mail is going out.

Per scenario it prints, and writes to `bench/results/chaos.json` (the services' output goes
to `bench/results/chaos.log`): messages lost, duplicated and unexpected at the sink (counted
per recipient), seconds from the end of the last fault to the last delivery, and faults
injected. Targets: nothing lost or unexpected; no duplicate after an orderly stop, which also
must not leave a delivery waiting for a lease; after a crash, duplicates within the documented
bound (see `rules`). `CHAOS_EMAILS` changes the number of emails per scenario.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import replace

import structlog
from rich.console import Console
from rich.table import Table

from bench.chaos.profiles import FULL
from bench.chaos.run import Outcome, run_profile
from bench.harness import RESULTS, Figure, figure, write
from testkit.fake_openrouter import FakeOpenRouter


def figures(outcomes: list[Outcome]) -> list[Figure]:
    # Counts and a recovery time have no reference run to compare with: `reference` and
    # `ratio` stay null, and the target is absolute.
    found: list[Figure] = []
    for o in outcomes:
        s, t = o.scenario.slug, o.tally
        recovery = o.recovery or 0.0
        limit = o.window.orderly_recovery_limit
        orderly = o.scenario.orderly
        found += [
            figure(f"{s}: faults injected", o.faults, "faults",
                   target="> 0, settled, nothing died",
                   met=o.faults > 0 and o.settled and not o.died and not o.forced),
            figure(f"{s}: lost", t.lost, "recipients", target="= 0", met=t.lost == 0),
            figure(f"{s}: duplicated", t.duplicated, "messages",
                   target=f"<= {o.bound} ({o.bound_rule})", met=t.duplicated <= o.bound),
            figure(f"{s}: duplicates outside the crash window", o.outside_the_window,
                   "messages", target=f"= 0 (first copy <= {o.window.doubt_seconds:g} s"
                   " before a crash)", met=orderly or o.outside_the_window == 0),
            figure(f"{s}: unexpected", t.unexpected, "messages", target="= 0",
                   met=t.unexpected == 0),
            figure(f"{s}: last fault to last delivery", recovery, "s",
                   target=f"< {limit:g} s (no lease waited out)" if orderly else "",
                   met=recovery < limit if orderly else True),
        ]
    return found


def table(outcomes: list[Outcome]) -> Table:
    out = Table(title="chaos: per scenario, counted per recipient at the SMTP sink")
    for column in ("scenario", "emails", "faults", "lost", "duplicated", "bound", "unexpected",
                   "last fault → last delivery", "targets"):
        out.add_column(column, justify="left" if column in ("scenario", "targets") else "right")
    for o in outcomes:
        problems = o.problems()
        out.add_row(o.scenario.title, str(o.tally.expected), str(o.faults), str(o.tally.lost),
                    str(o.tally.duplicated), str(o.bound), str(o.tally.unexpected),
                    "" if o.recovery is None else f"{o.recovery:.1f} s",
                    "[red]" + "; ".join(problems) if problems else "[green]met")
    return out


def main() -> None:
    profile = FULL
    if emails := os.environ.get("CHAOS_EMAILS"):
        profile = replace(profile, emails=int(emails))
    RESULTS.mkdir(exist_ok=True)
    console = Console()
    with (RESULTS / "chaos.log").open("w") as log_file:
        # The harness's own parts (the sink logs every message) write to the log, not here.
        structlog.configure(
            logger_factory=structlog.PrintLoggerFactory(file=log_file),
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        )
        console.print(f"chaos: {len(profile.scenarios)} scenarios of {profile.emails} emails each;"
                      f" the services' output goes to {RESULTS / 'chaos.log'}")
        with FakeOpenRouter() as llm:
            outcomes = run_profile(profile, llm, console=Console(file=log_file, width=200),
                                   progress=console)
    # Wide enough for the table also when the output goes to a file.
    Console(width=max(console.width, 160)).print(table(outcomes))
    path = write("chaos", figures(outcomes))
    console.print(f"written to {path}")
    if any(o.problems() for o in outcomes):
        sys.exit(1)
