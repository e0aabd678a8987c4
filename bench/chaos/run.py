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
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console

from bench.chaos.faults import Fault, Injected, Target
from bench.chaos.rules import CrashWindow
from bench.chaos.tally import SinkReader, Tally, recipients, scenario_domain, tally
from devstack.stack import Stack, display_name
from testkit.fake_openrouter import DEFAULT_MODEL, FakeOpenRouter
from testkit.system import api_client, running_system

_CREATE_TIMEOUT = 120.0  # seconds a campaign may take to be accepted while parts are down
_RETRY_PAUSE = 0.5
# The sink may store data a killed mailer had already sent a moment after the kill.
_STORE_SLACK = 0.5


class ChaosError(RuntimeError):
    """A scenario could not be carried out (not a target missed: that is an Outcome)."""


@dataclass(frozen=True)
class Scenario:
    slug: str  # also the recipients' subdomain
    title: str
    fault: Fault
    repeats: int  # faults applied, one after another
    orderly: bool = False  # an orderly stop: nothing may be sent twice or wait for a lease
    gap: tuple[float, float] = (0.5, 2.0)  # seconds before each fault, drawn at random
    timeout: float = 180.0  # seconds all its faults may take, restarts included


@dataclass(frozen=True)
class Profile:
    name: str
    emails: int  # in all, shared out evenly among the scenarios
    campaigns: int  # per scenario
    scenarios: tuple[Scenario, ...]
    extra_env: Mapping[str, str] = field(default_factory=dict)
    campaign_gap: float = 0.5  # seconds between a scenario's campaigns
    settle_margin: float = 60.0
    seed: int = 12

    @property
    def emails_per_scenario(self) -> int:
        return self.emails // len(self.scenarios)


@dataclass(frozen=True)
class Outcome:
    scenario: Scenario
    tally: Tally
    injected: tuple[Injected, ...]
    window: CrashWindow
    settled: bool
    settle_limit: float
    died: tuple[str, ...]  # services found exited after the faults, and started again

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
            database_crashes=sum(i.database_crashes for i in self.injected))

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
        t, found = self.tally, []
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
            recovery, limit = self.recovery, self.window.orderly_recovery_limit
            if recovery is not None and recovery >= limit:
                found.append(f"the last delivery came {recovery:.0f} s after the restart"
                             f" (limit {limit:g} s): a claim was left to its lease")
        return found

    def with_tally(self, new: Tally) -> Outcome:
        return Outcome(self.scenario, new, self.injected, self.window, self.settled,
                       self.settle_limit, self.died)


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
            outcome = _run(stack, api, llm, reader, window, profile, scenario, rng, run_id)
            outcomes.append(outcome)
            if progress is not None:
                problems = outcome.problems()
                progress.print("  " + ("; ".join(problems) if problems else "all targets met"))
        # Counted again at the end, so that anything that came late is seen too.
        return [o.with_tally(_count(reader, o.scenario, profile)) for o in outcomes]


def _run(stack: Stack, api: httpx.Client, llm: FakeOpenRouter, reader: SinkReader,
         window: CrashWindow, profile: Profile, scenario: Scenario, rng: random.Random,
         run_id: str) -> Outcome:
    addresses = recipients(scenario.slug, profile.emails_per_scenario)
    chunks = [addresses[k::profile.campaigns] for k in range(profile.campaigns)]
    baseline = reader.count()
    injected: list[Injected] = []
    failure: list[BaseException] = []
    stop = threading.Event()

    def inject() -> None:
        target = Target(stack, llm)
        try:
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
    try:
        for k, chunk in enumerate(chunks):
            if k:
                time.sleep(profile.campaign_gap)  # pacing: the campaigns arrive over time
            ids.append(_create(api, f"{run_id}-{scenario.slug}-{k}", scenario, chunk))
    finally:
        injector.join(scenario.timeout)
        stop.set()
    if injector.is_alive():
        raise ChaosError(f"{scenario.title}: its faults did not end within {scenario.timeout:g} s")
    if failure:
        raise ChaosError(f"{scenario.title}: injecting a fault failed: {failure[0]!r}") \
            from failure[0]
    died = _bring_back(stack)
    limit = window.settle_seconds(profile.settle_margin)
    settled = _settle(api, ids, len(addresses), limit)
    return Outcome(scenario, _count(reader, scenario, profile), tuple(injected), window,
                   settled, limit, died)


def _count(reader: SinkReader, scenario: Scenario, profile: Profile) -> Tally:
    return tally(recipients(scenario.slug, profile.emails_per_scenario),
                 reader.of(scenario_domain(scenario.slug)))


def _create(api: httpx.Client, key: str, scenario: Scenario, chunk: Sequence[str]) -> str:
    """Create a campaign whose one email goes at once; retried with one Idempotency-Key while
    parts of the system are down, so a retry never creates a second campaign."""
    payload = {
        "name": f"Chaos {scenario.slug}", "description": f"Crash suite: {scenario.title}",
        "schedule_type": "daily", "total_emails": 1, "ai_agent_id": DEFAULT_MODEL,
        "recipient_emails": list(chunk),
    }
    deadline = time.monotonic() + _CREATE_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = api.post("/api/campaigns/", json=payload, timeout=30,
                                headers={"Idempotency-Key": key})
        except httpx.TransportError as error:
            last = repr(error)
        else:
            if response.status_code in (200, 201):
                created: dict[str, Any] = response.json()
                return str(created["id"])
            if response.status_code not in (409, 429) and response.status_code < 500:
                raise ChaosError(f"creating a campaign answered {response.status_code}: "
                                 f"{response.text[:500]}")
            last = f"{response.status_code} {response.text[:200]}"
        time.sleep(_RETRY_PAUSE)
    raise ChaosError(f"{scenario.title}: no campaign created within {_CREATE_TIMEOUT:g} s"
                     f" (last: {last})")


def _bring_back(stack: Stack) -> tuple[str, ...]:
    """Start again every service that exited although no fault was meant to leave it down."""
    died = stack.exited()
    for exit_ in died:
        stack.restart_service(exit_.service)
    return tuple(f"{display_name(e.service)} (code {e.returncode})" for e in died)


def _settle(api: httpx.Client, ids: Sequence[str], expected: int, limit: float) -> bool:
    """Wait until the API counts every delivery of `ids` sent or failed; False after `limit`."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if _settled_count(api, ids) >= expected:
            return True
        time.sleep(_RETRY_PAUSE)
    return False


def _settled_count(api: httpx.Client, ids: Sequence[str]) -> int:
    total = 0
    for campaign_id in ids:
        try:
            response = api.get(f"/api/campaigns/{campaign_id}/")
        except httpx.TransportError:
            return 0
        if response.status_code != 200:
            return 0
        progress = response.json()["progress"]
        total += progress["deliveries_sent"] + progress["deliveries_failed"]
    return total
