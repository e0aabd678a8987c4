"""The real `python -m mailer run` processes against real NATS, PostgreSQL and an SMTP sink:
replicas share the work without sending anything twice, and a killed mailer loses nothing,
duplicates at most what it had not yet recorded, and its deliveries resume within a lease."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

from devstack.ports import free_port


async def test_two_mailers_send_each_message_exactly_once(
    mailers: Any, sink: Any, until: Any
) -> None:
    counter, _ = sink
    expected = await mailers.due(5_000)
    started = [mailers.start(MAILER_BATCH_SIZE="250", MAILER_SMTP_POOL_SIZE="8")
               for _ in range(2)]

    async def all_sent() -> bool:
        assert all(m.poll() is None for m in started), "a mailer exited"
        return (await mailers.states()).get("sent", 0) == len(expected)

    await until(all_sent, 80, "5,000 deliveries sent")
    shares = [m.sent() for m in started]
    assert set(counter.counts) == set(expected)
    assert set(counter.counts.values()) == {1}
    # Both replicas took part, or this would not test sharing at all.
    assert sum(shares) == len(expected)
    assert min(shares) > 0


async def test_killed_mailer_duplicates_only_what_it_had_not_recorded_and_the_rest_resumes(
    mailers: Any, sink: Any, until: Any
) -> None:
    counter, _ = sink
    expected = await mailers.due(4_000)
    # Slowed down so that the kill lands in the middle of the run and each claimed batch
    # takes about ten seconds to send; outcomes are written by time only (a record batch that
    # never fills), every MAILER_RECORD_MAX_DELAY.
    mailer = mailers.start(MAILER_SMTP_RATE="200", MAILER_BATCH_SIZE="1000",
                           MAILER_RECORD_BATCH="5000", MAILER_LEASE_SECONDS="20")

    async def mid_batch() -> bool:
        # Some messages are out, and a claimed batch is on the wire.
        return counter.received >= 1_500 and (await mailers.states()).get("sending", 0) > 0

    await until(mid_batch, 60, "1,500 messages out and batches in flight")
    mailer.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    mailer.wait()
    accepted = counter.snapshot()
    recorded = await mailers.sent_ids()
    # Outcomes are recorded promptly: whatever the sink accepted more than a few record
    # delays (0.2 s by default) before the kill is recorded as sent. Generous, as a loaded
    # machine slows the commits; a mailer that recorded a batch's outcomes when its batch
    # was done would have left everything since its claim, over 7 s, unrecorded.
    settled_by = killed_at - 5.0
    unrecorded = {mid for mid in accepted if mid not in recorded}
    assert all(counter.accepted_at[mid][0] > settled_by for mid in unrecorded)
    assert 0 < len(accepted) < len(expected)

    restarted = mailers.start(MAILER_LEASE_SECONDS="20")

    async def all_sent() -> bool:
        assert restarted.poll() is None, "the restarted mailer exited"
        return (await mailers.states()).get("sent", 0) == len(expected)

    # The killed process's claims are taken over once their 20 s lease has run out: the
    # whole run ends within about that, not after minutes.
    await until(all_sent, 60, "every delivery sent after the restart")
    assert set(counter.counts) == set(expected)
    # A message received twice is one the killed mailer had sent and not yet recorded.
    duplicated = {mid for mid, n in counter.counts.items() if n > 1}
    assert duplicated <= unrecorded


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone but for its exit status.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:  # reaped meanwhile
        return False


async def test_one_mailer_with_sender_processes_sends_each_message_once_and_takes_them_along(
    mailers: Any, sink: Any, until: Any
) -> None:
    counter, _ = sink
    expected = await mailers.due(3_000)
    metrics_port = free_port()
    mailer = mailers.start(MAILER_SENDER_PROCESSES="2", MAILER_BATCH_SIZE="250",
                           MAILER_SENDER_METRICS_PORT=str(metrics_port))

    async def all_sent() -> bool:
        assert mailer.poll() is None, "the mailer exited"
        return (await mailers.states()).get("sent", 0) == len(expected)

    await until(all_sent, 80, "3,000 deliveries sent")

    async def counted_once() -> bool:
        # The `run` process's own metrics and the sender process's, on its own port:
        # between them, every message once (a count follows its commit by a moment).
        return mailer.sent() + mailer.sent(metrics_port) == len(expected)

    await until(counted_once, 5, "the two processes' metrics to add up")
    own_share = mailer.sent()
    (sender,) = _children(mailer.pid)
    # Killed outright, the mailer cannot stop its sender process: that one notices.
    mailer.send_signal(signal.SIGKILL)
    mailer.wait()

    async def sender_gone() -> bool:
        return not _alive(sender)

    await until(sender_gone, 10, "the sender process to stop after its mailer")
    assert set(counter.counts) == set(expected)
    assert set(counter.counts.values()) == {1}
    # Both processes sent: the `run` process did not send everything itself.
    assert 0 < own_share < len(expected)


async def test_the_mailer_is_ready_only_while_its_sender_processes_run(
    mailers: Any, until: Any
) -> None:
    mailer = mailers.start(MAILER_SENDER_PROCESSES="2")
    seen: list[int] = []

    async def readiness_is(status: int) -> bool:
        assert mailer.poll() is None, "the mailer exited"
        code = await asyncio.to_thread(mailer.readiness)
        seen.append(code)
        return code == status

    await until(lambda: readiness_is(200), 30, "the mailer to be ready")
    (sender,) = _children(mailer.pid)
    os.kill(sender, signal.SIGKILL)
    await until(lambda: readiness_is(503), 10, "not ready without its sender process")
    await until(lambda: readiness_is(200), 30, "ready again once it is restarted")
    (restarted,) = _children(mailer.pid)
    assert restarted != sender
