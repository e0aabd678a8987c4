"""How the crash suite judges a scenario: the bound comes from the mailer's settings of the run,
and every duplicate must fall in the crash window of a crash."""

from __future__ import annotations

from dataclasses import replace

from bench.chaos.faults import Injected, sigkill
from bench.chaos.rules import CrashWindow
from bench.chaos.run import Outcome, Scenario
from bench.chaos.tally import Tally

MAILER_ENV = {"MAILER_DATABASE_URL": "postgresql+asyncpg://postgres@/mailer?host=/tmp"}
WINDOW = CrashWindow.of(MAILER_ENV)


def outcome(*, duplicated: tuple[float, ...] = (), orderly: bool = False,
            injected: tuple[Injected, ...] = (), last: float = 100.0,
            arrivals: tuple[float, ...] | None = None) -> Outcome:
    scenario = Scenario("s", "a scenario", sigkill("mailer"), repeats=1, orderly=orderly)
    tally = Tally(expected=10, received=10 + len(duplicated), lost=0,
                  duplicated=len(duplicated), unexpected=0, last_delivery=last,
                  first_copies=duplicated, arrivals=(last,) if arrivals is None else arrivals)
    return Outcome(scenario, tally, injected, WINDOW, settled=True, settle_limit=60.0, died=(),
                   expected=tuple(f"r{i}@s.chaos.example" for i in range(10)))


def kill(at: float) -> Injected:
    return Injected(faults=1, mailer_kills=1, crashes=((at, at),), ended_at=at + 3)


def test_the_bound_is_the_claims_each_process_in_doubt_holds_as_the_run_configured_it() -> None:
    window = CrashWindow.of({**MAILER_ENV, "MAILER_BATCH_SIZE": "50",
                             "MAILER_PIPELINE_DEPTH": "3", "MAILER_SMTP_POOL_SIZE": "4",
                             "MAILER_SENDER_PROCESSES": "2"})
    assert window.max_in_doubt == 150
    # A SIGKILL of the mailer kills its run process; a database crash that kept the database
    # away for half a lease or longer leaves both in doubt.
    assert window.processes_in_doubt(mailer_kills=3,
                                     database_outages=[window.lease_seconds / 2]) == 5
    assert window.bound(5) == 750


def test_a_database_back_within_half_a_lease_leaves_no_send_in_doubt() -> None:
    window = CrashWindow.of({**MAILER_ENV, "MAILER_LEASE_SECONDS": "30",
                             "MAILER_SENDER_PROCESSES": "2"})
    assert window.outage_without_doubt == 15
    assert window.processes_in_doubt(mailer_kills=0, database_outages=[3.0, 14.9]) == 0
    assert window.processes_in_doubt(mailer_kills=1, database_outages=[3.0, 15.0]) == 3


def test_a_duplicate_after_a_short_database_crash_is_a_problem() -> None:
    crash = Injected(faults=1, database_outages=(2.0,), crashes=((50.0, 52.0),), ended_at=52.0)
    judged = outcome(duplicated=(50.0,), injected=(crash,))
    assert judged.bound == 0
    assert judged.problems() == ["1 duplicates, more than 0 (0 sender process(es) in doubt x "
                                 f"{WINDOW.max_in_doubt})"]


def test_duplicates_of_messages_accepted_just_before_a_kill_are_within_the_bound() -> None:
    judged = outcome(duplicated=(49.9, 50.0, 50.1), injected=(kill(50.0),))
    assert judged.bound == WINDOW.max_in_doubt
    assert judged.problems() == []


def test_a_duplicate_of_a_message_accepted_long_before_any_crash_is_a_problem() -> None:
    early = 50.0 - WINDOW.doubt_seconds - 1
    judged = outcome(duplicated=(early, 50.0), injected=(kill(50.0),))
    assert judged.outside_the_window == 1
    assert judged.problems() == [
        f"1 duplicates of messages accepted outside the crash window ({WINDOW.doubt_seconds:g} s"
        " before a crash)"]


def test_an_orderly_stop_allows_no_duplicate_and_no_wait_for_a_lease() -> None:
    stop = Injected(faults=1, ended_at=50.0)
    late = 50.0 + WINDOW.orderly_recovery_limit + 1
    judged = outcome(duplicated=(49.0,), orderly=True, injected=(stop,), last=late)
    assert judged.bound == 0
    assert len(judged.problems()) == 2


def test_after_an_orderly_stop_mail_that_keeps_flowing_is_no_wait_for_a_lease() -> None:
    # Thousands of emails still to send after the restart take long, in short steps.
    stop = Injected(faults=1, ended_at=50.0)
    step = WINDOW.orderly_recovery_limit / 4
    flowing = tuple(50.0 + step * k for k in range(1, 40))
    judged = outcome(orderly=True, injected=(stop,), last=flowing[-1], arrivals=flowing)
    assert judged.problems() == []
    stranded = (*flowing, flowing[-1] + WINDOW.orderly_recovery_limit)
    judged = outcome(orderly=True, injected=(stop,), last=stranded[-1], arrivals=stranded)
    assert len(judged.problems()) == 1


def test_what_went_wrong_on_the_way_is_a_problem_too() -> None:
    judged = replace(outcome(injected=(kill(50.0),)), findings=("a key was left claimed",))
    assert judged.problems() == ["a key was left claimed"]


def test_a_scenario_whose_faults_never_came_proves_nothing() -> None:
    assert outcome().problems() == [
        "no fault was injected: the scenario's mail was out before the first"]
