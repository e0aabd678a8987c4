"""An orderly stop of a real mailer (SIGTERM, as Kubernetes, compose and `make up` stop it)
in the middle of a send: the sends under way finish and are recorded, the claims not yet sent
go back at once, so after a restart every recipient has exactly one message and nothing waits
for a lease."""

from __future__ import annotations

from typing import Any

import pytest

# Long enough that a delivery left to wait for its lease would time the test out.
LONG_LEASE = "300"


@pytest.mark.parametrize("processes", ["1", "2"], ids=["one process", "sender processes"])
async def test_sigterm_mid_send_then_a_restart_sends_each_message_once_and_waits_for_no_lease(
    mailers: Any, sink: Any, until: Any, terminate: Any, processes: str
) -> None:
    counter, _ = sink
    expected = await mailers.due(5_000)
    # Slowed down so that the stop lands in the middle of the run.
    env = {"MAILER_LEASE_SECONDS": LONG_LEASE, "MAILER_SMTP_RATE": "500",
           "MAILER_SENDER_PROCESSES": processes}
    mailer = mailers.start(**env)

    async def mid_send() -> bool:
        assert mailer.poll() is None, "the mailer exited"
        return counter.received >= 1_000 and (await mailers.states()).get("sending", 0) > 0

    await until(mid_send, 60, "1,000 messages out and batches in flight")
    assert terminate(mailer, 30) == 0

    # Every claim was recorded or handed back, and what the sink accepted is recorded sent.
    states = await mailers.states()
    assert "sending" not in states
    assert 0 < states["sent"] < len(expected)
    assert await mailers.sent_ids() == set(counter.snapshot())
    assert counter.duplicates == 0

    restarted = mailers.start(**env)

    async def all_sent() -> bool:
        assert restarted.poll() is None, "the restarted mailer exited"
        return (await mailers.states()).get("sent", 0) == len(expected)

    await until(all_sent, 120, "every delivery sent after the restart, long before a lease")
    assert set(counter.counts) == set(expected)
    assert set(counter.counts.values()) == {1}
    # The claims handed back were not counted as attempts.
    assert await mailers.attempts() == {1: len(expected)}
