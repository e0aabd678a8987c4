"""Running scenarios in turn on one system started the way `make up` starts it.

Each scenario mails recipients of its own, split into a few campaigns created one after
another (so every service has work while the faults come), injects its faults at random
moments from a thread of its own, brings back whatever did not survive, then waits, within a
deadline computed from the settings, until the API reports every delivery settled. What the
sink received is then counted per recipient (see `tally`).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import httpx
from rich.console import Console

from bench.chaos.campaigns import CreateError, create, settle
from bench.chaos.faults import Fault, Injected, Target
from bench.chaos.rules import CrashWindow
from bench.chaos.tally import SinkReader, Tally, recipients, scenario_domain, tally
from devstack.stack import Stack, display_name
from testkit.fake_openrouter import FakeOpenRouter
from testkit.system import api_client, running_system

# The sink may store data a killed mailer had already sent a moment after the kill.
_STORE_SLACK = 0.5


class ChaosError(RuntimeError):
    """A fault could not be injected or undone: the run cannot go on."""


@dataclass(frozen=True)
class Scenario:
    slug: str  # also the recipients' subdomain
    title: str
    fault: Fault
    repeats: int  # faults applied, one after another
    orderly: bool = False  # an orderly stop: nothing may be sent twice or wait for a lease
    gap: tuple[float, float] = (0.5, 2.0)  # seconds before each fault, drawn at random
    timeout: float = 180.0  # seconds all its faults may take, restarts included
    # Faults come while the campaigns are being created, or only once they all are.
    during_creation: bool = True
    # The faults may leave emails no model could write, which wait out an outage backoff.
    llm_outage: bool = False


@dataclass(frozen=True)
class Profile:
    name: str
    emails: int  # per scenario: each one mails recipients of its own
    campaigns: int  # per scenario
    scenarios: tuple[Scenario, ...]
    extra_env: Mapping[str, str] = field(default_factory=dict)
    campaign_gap: float = 0.5  # seconds between a scenario's campaigns
    settle_margin: float = 60.0
    seed: int = 12


@dataclass(frozen=True)
class Outcome:
    scenario: Scenario
    tally: Tally
    injected: tuple[Injected, ...]
    window: CrashWindow
    settled: bool
    settle_limit: float
    died: tuple[str, ...]  # services found exited after the faults, and started again
    expected: tuple[str, ...]  # the recipients of the campaigns created
    findings: tuple[str, ...] = ()  # what went wrong besides the counts

    @property
    def faults(self) -> int:
        return sum(i.faults for i in self.injected)

    @property
    def forced(self) -> int:
        return sum(i.forced for i in self.injected)

    @property
    def processes_in_doubt(self) -> int:
        return self.window.processes_in_doubt(
            mailer_kills=sum(i.mailer_kills for i in self.injected),
            database_outages=[o for i in self.injected for o in i.database_outages])

    @property
    def bound(self) -> int:
        """Duplicates the documented rule allows: none for an orderly stop."""
        if self.scenario.orderly:
            return 0
        return self.window.bound(self.processes_in_doubt)

    @property
    def bound_rule(self) -> str:
        if self.scenario.orderly:
            return "orderly stop"
        return self.window.explain(self.processes_in_doubt)

    @property
    def outside_the_window(self) -> int:
        """Duplicates whose first copy the sink accepted outside the crash window of every
        crash: the mailer should have recorded those outcomes before."""
        crashes = [crash for i in self.injected for crash in i.crashes]
        doubt = self.window.doubt_seconds
        return sum(1 for first in self.tally.first_copies
                   if not any(start - doubt <= first <= end + _STORE_SLACK
                              for start, end in crashes))

    @property
    def last_fault_end(self) -> float | None:
        return max((i.ended_at for i in self.injected), default=None)

    @property
    def recovery(self) -> float | None:
        """Seconds from the end of the last fault to the last delivery (0 if none came after)."""
        end, last = self.last_fault_end, self.tally.last_delivery
        if end is None or last is None:
            return None
        return max(0.0, last - end)

    def problems(self) -> list[str]:
        """Every target this scenario missed, in words."""
        t, found = self.tally, list(self.findings)
        if self.faults == 0:
            found.append("no fault was injected: the scenario's mail was out before the first")
        if not self.settled:
            found.append(f"not settled within {self.settle_limit:g} s")
        if t.lost:
            found.append(f"{t.lost} of {t.expected} recipients got no message")
        if t.unexpected:
            found.append(f"{t.unexpected} unexpected messages")
        if t.duplicated > self.bound:
            found.append(f"{t.duplicated} duplicates, more than {self.bound} ({self.bound_rule})")
        if (outside := self.outside_the_window) and not self.scenario.orderly:
            found.append(f"{outside} duplicates of messages accepted outside the crash window"
                         f" ({self.window.doubt_seconds:g} s before a crash)")
        if self.died:
            found.append(f"exited and had to be started again: {', '.join(self.died)}")
        if self.scenario.orderly:
            if self.forced:
                found.append(f"{self.forced} orderly stop(s) did not end in time and were killed")
            # Not the time to the last delivery: with thousands of emails still to send after
            # the restart, that is the time sending them takes.
            end, limit = self.last_fault_end, self.window.orderly_recovery_limit
            pause = None if end is None else t.longest_pause_after(end)
            if pause is not None and pause >= limit:
                found.append(f"after the restart the sink waited {pause:.0f} s for the next"
                             f" message (limit {limit:g} s): a claim was left to its lease")
        return found

    def with_tally(self, new: Tally) -> Outcome:
        return replace(self, tally=new)


def run_profile(profile: Profile, llm: FakeOpenRouter, *,
                console: Console | None = None, progress: Console | None = None) -> list[Outcome]:
    """Run every scenario of `profile` in turn; `console` gets the services' output and
    `progress` a line per scenario."""
    rng = random.Random(profile.seed)
    run_id = uuid.uuid4().hex[:8]
    outcomes: list[Outcome] = []
    with running_system("cb-chaos-", llm, extra_env=profile.extra_env,
                        console=console) as stack, api_client(stack) as api:
        assert stack.maildir is not None, "the embedded sink is what the harness counts"
        reader = SinkReader(stack.maildir)
        window = CrashWindow.of(stack.service_env("mailer"))
        for scenario in profile.scenarios:
            if progress is not None:
                progress.print(f"[bold]{scenario.title}[/] ...")
            try:
                outcome = _run(stack, api, llm, reader, window, profile, scenario, rng, run_id)
            except ChaosError as error:
                # The system may be left broken: what was counted so far is reported.
                outcome = Outcome(scenario, _count(reader, scenario, ()), (), window, False, 0.0,
                                  (), (), (str(error),))
            outcomes.append(outcome)
            if progress is not None:
                problems = outcome.problems()
                progress.print("  " + ("; ".join(problems) if problems else "all targets met"))
            if outcome.findings and not outcome.expected:
                break
        # Counted again at the end, so that anything that came late is seen too.
        return [o.with_tally(_count(reader, o.scenario, o.expected)) for o in outcomes]


def _run(stack: Stack, api: httpx.Client, llm: FakeOpenRouter, reader: SinkReader,
         window: CrashWindow, profile: Profile, scenario: Scenario, rng: random.Random,
         run_id: str) -> Outcome:
    addresses = recipients(scenario.slug, profile.emails)
    chunks = [addresses[k::profile.campaigns] for k in range(profile.campaigns)]
    baseline = reader.count()
    injected: list[Injected] = []
    failure: list[BaseException] = []
    stop, created = threading.Event(), threading.Event()

    def inject() -> None:
        target = Target(stack, llm)
        try:
            if not scenario.during_creation:
                created.wait()
            for _ in range(scenario.repeats):
                # Waiting is the randomness of the moment, cut short once the mail is out.
                if stop.wait(rng.uniform(*scenario.gap)):
                    return
                if reader.count() >= baseline + len(addresses):
                    return
                injected.append(scenario.fault(target))
        except BaseException as error:
            failure.append(error)

    injector = threading.Thread(target=inject, name=f"chaos-{scenario.slug}", daemon=True)
    injector.start()
    ids: list[str] = []
    expected: list[str] = []
    findings: list[str] = []
    try:
        for k, chunk in enumerate(chunks):
            if k:
                time.sleep(profile.campaign_gap)  # pacing: the campaigns arrive over time
            try:
                made = create(api, f"{run_id}-{scenario.slug}-{k}",
                              f"Crash suite: {scenario.title}", chunk)
            except CreateError as error:
                findings.append(f"campaign {k + 1} of {len(chunks)} not created: {error}")
                continue
            ids.append(made.campaign_id)
            expected += chunk
            if made.finding is not None:
                findings.append(made.finding)
    finally:
        created.set()
        injector.join(scenario.timeout)
        stop.set()
    if injector.is_alive():
        raise ChaosError(f"{scenario.title}: its faults did not end within {scenario.timeout:g} s")
    if failure:
        raise ChaosError(f"{scenario.title}: injecting a fault failed: {failure[0]!r}") \
            from failure[0]
    died = _bring_back(stack)
    limit = window.settle_seconds(profile.settle_margin, llm_outage=scenario.llm_outage)
    settled = settle(api, ids, len(expected), limit)
    return Outcome(scenario, _count(reader, scenario, expected), tuple(injected), window,
                   settled, limit, died, tuple(expected), tuple(findings))


def _count(reader: SinkReader, scenario: Scenario, expected: Sequence[str]) -> Tally:
    return tally(expected, reader.of(scenario_domain(scenario.slug)))


def _bring_back(stack: Stack) -> tuple[str, ...]:
    """Start again every service that exited although no fault was meant to leave it down."""
    died = stack.exited()
    for exit_ in died:
        stack.restart_service(exit_.service)
    return tuple(f"{display_name(e.service)} (code {e.returncode})" for e in died)
