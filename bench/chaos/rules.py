"""The documented rules a run is judged by, computed from the settings the run used.

docs/architecture.md, "The crash window": a message is in doubt only between the SMTP server's
250 and the commit of its outcome, so a crash of the mailer duplicates at most the deliveries
in `sending` at that moment: never more than `MAILER_BATCH_SIZE x MAILER_PIPELINE_DEPTH` per
sender process. An immediate shutdown of PostgreSQL leaves the mailer the same doubt (the
outcomes it was committing are lost with the server), so it counts as one such crash too.
Nothing else in the system can send a message twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mailer.domain import RETRY_STEPS
from mailer.settings import Settings as MailerSettings


def mailer_setting(name: str, env: Mapping[str, str]) -> float:
    """A mailer setting as the run's environment gives it, else the mailer's own default."""
    value = env.get(f"MAILER_{name.upper()}")
    if value is not None:
        return float(value)
    default = MailerSettings.model_fields[name].default
    if not isinstance(default, int | float):
        raise TypeError(f"mailer setting {name} is not a number")
    return float(default)


@dataclass(frozen=True)
class CrashWindow:
    batch_size: int
    pipeline_depth: int
    sender_processes: int
    lease_seconds: float

    @classmethod
    def of(cls, env: Mapping[str, str]) -> CrashWindow:
        return cls(
            batch_size=int(mailer_setting("batch_size", env)),
            pipeline_depth=int(mailer_setting("pipeline_depth", env)),
            sender_processes=int(mailer_setting("sender_processes", env)),
            lease_seconds=mailer_setting("lease_seconds", env),
        )

    @property
    def per_crash(self) -> int:
        """Most duplicates one crash of the mailer (or of its database) may cause."""
        return self.batch_size * self.pipeline_depth * self.sender_processes

    def bound(self, crashes: int) -> int:
        return crashes * self.per_crash

    def explain(self, crashes: int) -> str:
        return (f"{crashes} crash(es) x {self.batch_size} x {self.pipeline_depth}"
                f" x {self.sender_processes}")

    @property
    def orderly_recovery_limit(self) -> float:
        """After an orderly stop, the last delivery must come sooner than this after the
        restart. A claim the stop did not hand back is sent again only when its lease runs
        out, and no send starts later than half a lease after its claim: such a claim
        cannot have been made much more than half a lease before the stop, so its message
        comes about half a lease or more after it."""
        return self.lease_seconds / 2

    def settle_seconds(self, margin: float) -> float:
        """How long the last delivery may take after the last fault: a claim lost in a crash
        waits out the lease, and a deferred send the first retry step; then `margin`."""
        return self.lease_seconds + RETRY_STEPS[0].total_seconds() + margin
