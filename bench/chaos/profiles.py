"""The two profiles of the crash suite: `make chaos` (FULL) and the one inside `make test` (SHORT).

FULL runs the system with the services' own defaults (plus the short scheduler tick and mailer
poll every end-to-end run uses) and every scenario; SHORT runs the same code with fewer
emails, the scenarios that matter most, and shorter timers where the services allow it, so that
it fits in about three minutes.
"""

from __future__ import annotations

from bench.chaos.faults import (
    every_llm_fault,
    llm_faults,
    nats_kill,
    nats_pause,
    postgres_immediate,
    sigkill,
    sigterm,
    smtp_faults,
)
from bench.chaos.run import Profile, Scenario
from devstack.stack import SERVICES, display_name
from testkit.fake_openrouter import Error, Hang, Malformed

# The content generator's default per-call timeout (OPENROUTER_TIMEOUT_SECONDS): a hung call
# costs that long.
_LLM_TIMEOUT = 20.0


def _killed(module: str, repeats: int) -> Scenario:
    name = display_name(module)
    return Scenario(f"sigkill-{name}", f"{name} SIGKILLed at random moments",
                    sigkill(module), repeats=repeats)


def _stopped(module: str, repeats: int) -> Scenario:
    name = display_name(module)
    return Scenario(f"sigterm-{name}", f"{name} stopped with SIGTERM mid-work, started again",
                    sigterm(module), repeats=repeats, orderly=True)


_NATS_KILL = Scenario("nats-kill", "NATS SIGKILLed and started again", nats_kill, repeats=2)
_POSTGRES = Scenario("postgres-immediate", "PostgreSQL immediate shutdown, started again",
                     postgres_immediate, repeats=2)


FULL = Profile(
    name="full",
    emails=10_000,
    campaigns=5,
    scenarios=(
        *(_killed(m, 3) for m in SERVICES),
        *(_stopped(m, 2) for m in SERVICES),
        _NATS_KILL,
        Scenario("nats-pause", "NATS paused for 5 s (SIGSTOP, then SIGCONT)", nats_pause(5.0),
                 repeats=2),
        _POSTGRES,
        Scenario("llm-faults", "LLM answering 429, 5xx, a timeout, garbage, a dropped connection",
                 llm_faults(every_llm_fault(_LLM_TIMEOUT), timeout=240), repeats=1,
                 gap=(0.0, 0.2), timeout=300, llm_outage=True),
        Scenario("smtp-faults", "SMTP sink answering 421, then dropping connections",
                 smtp_faults(seconds=3.0, every=4), repeats=1, gap=(0.3, 0.6)),
    ),
)

_SHORT_LLM_TIMEOUT = 3.0

SHORT = Profile(
    name="short",
    emails=250,
    campaigns=3,
    scenarios=(
        _killed("mailer", 2),
        _stopped("mailer", 1),
        Scenario("nats-kill", "NATS SIGKILLed and started again", nats_kill, repeats=1),
        # Once the campaigns are created: a crash of the database under a create leaves its
        # Idempotency-Key claimed for good (a campaign-api bug `make chaos` shows), which is
        # not what this profile is about.
        Scenario("postgres-immediate", "PostgreSQL immediate shutdown, started again",
                 postgres_immediate, repeats=1, gap=(0.0, 0.3), during_creation=False),
        # Fewer than CONTENT_GENERATOR_BREAKER_FAILURES in a row: the breaker's cool-down
        # would cost 30 s.
        Scenario("llm-faults", "LLM answering 429, 503, a timeout and garbage",
                 llm_faults((Error(429, retry_after=1), Error(503),
                             Hang(seconds=_SHORT_LLM_TIMEOUT + 5), Malformed()), timeout=60),
                 repeats=1, gap=(0.0, 0.2), llm_outage=True),
        Scenario("smtp-faults", "SMTP sink answering 421, then dropping connections",
                 smtp_faults(seconds=1.0, every=4), repeats=1, gap=(0.2, 0.4)),
    ),
    extra_env={"OPENROUTER_TIMEOUT_SECONDS": str(_SHORT_LLM_TIMEOUT)},
    settle_margin=30.0,
)
