"""The documented rules a run is judged by, computed from the settings the run used.

docs/architecture.md, "The crash window": a message is in doubt only between the SMTP server's
250 and the commit of its outcome. Per sender process killed, the duplicates are at most
`MAILER_BATCH_SIZE x MAILER_PIPELINE_DEPTH` (the mailer's `Settings.max_in_doubt`: the claims a
process holds), and they are among the messages the sink accepted in the last
`MAILER_RECORD_MAX_DELAY` (plus the commit of the write under way) before the kill. A SIGKILL of
the mailer kills its `run` process, one sender process. An immediate shutdown of PostgreSQL
leaves nothing in doubt while the database is back within `Settings.outage_without_doubt` (half
a lease): the mailer starts no send while it is away and writes the outcomes it holds once it
answers. One that keeps it away longer may leave every sender process in doubt at once, so it
counts as a kill of each. Nothing else in the system can send a message twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

from content_generator.handlers import Ports as WriterPorts
from mailer.domain import RETRY_STEPS
from mailer.settings import Settings as MailerSettings

# What one outcome write may take to commit, on top of MAILER_RECORD_MAX_DELAY, when deciding
# whether a duplicate's first copy was accepted within the crash window of a kill: a write of
# at most MAILER_RECORD_BATCH rows, on a loaded two-core machine.
COMMIT_ALLOWANCE_SECONDS = 2.0


def mailer_settings(env: Mapping[str, str]) -> MailerSettings:
    """The mailer's settings as its environment `env` gives them (its `MAILER_*` variables,
    which include its database's URL), validated by the mailer."""
    given = {name: env[f"MAILER_{name.upper()}"] for name in MailerSettings.model_fields
             if f"MAILER_{name.upper()}" in env}
    return MailerSettings.model_validate(given)


@dataclass(frozen=True)
class CrashWindow:
    max_in_doubt: int  # per sender process
    sender_processes: int
    record_max_delay: float
    lease_seconds: float
    outage_without_doubt: float  # seconds a database may be away leaving nothing in doubt

    @classmethod
    def of(cls, env: Mapping[str, str]) -> CrashWindow:
        settings = mailer_settings(env)
        return cls(max_in_doubt=settings.max_in_doubt,
                   sender_processes=settings.sender_processes,
                   record_max_delay=settings.record_max_delay,
                   lease_seconds=float(settings.lease_seconds),
                   outage_without_doubt=settings.outage_without_doubt)

    def processes_in_doubt(self, *, mailer_kills: int, database_outages: Iterable[float]) -> int:
        """Each mailer kill leaves its one process in doubt; each database crash that kept the
        database away for `outage_without_doubt` or longer (seconds), every sender process."""
        long_outages = sum(1 for away in database_outages if away >= self.outage_without_doubt)
        return mailer_kills + long_outages * self.sender_processes

    def bound(self, processes: int) -> int:
        return processes * self.max_in_doubt

    def explain(self, processes: int) -> str:
        return f"{processes} sender process(es) in doubt x {self.max_in_doubt}"

    @property
    def doubt_seconds(self) -> float:
        """How long before a crash a message the sink accepted may still be unrecorded."""
        return self.record_max_delay + COMMIT_ALLOWANCE_SECONDS

    @property
    def orderly_recovery_limit(self) -> float:
        """After an orderly stop, the sink must never wait this long for the next message while
        mail is still to come: a claim the stop did not hand back is sent again only once its
        lease has run out, about a lease after the stop (the heartbeat renewed it shortly
        before). Mail still flowing meanwhile hides such a claim; the mailer's own stop test
        (services/mailer/tests/integration/test_stopping.py) checks that none is left."""
        return self.lease_seconds / 2

    def settle_seconds(self, margin: float, *, llm_outage: bool = False) -> float:
        """How long the last delivery may take after the last fault: a claim lost in a crash
        waits out the lease and a deferred send the first retry step; after an LLM outage, an
        email no model could write waits up to the content generator's longest outage backoff
        before its next try, however soon the LLM is back. Then `margin`."""
        mail = self.lease_seconds + RETRY_STEPS[0].total_seconds()
        return max(mail, longest_outage_wait() if llm_outage else 0.0) + margin


def longest_outage_wait() -> float:
    """The content generator's longest wait between tries at an email during an outage."""
    default = next(f.default for f in fields(WriterPorts) if f.name == "outage_backoff")
    if not isinstance(default, tuple):
        raise TypeError("content_generator.handlers.Ports.outage_backoff has no default")
    return float(max(default))
