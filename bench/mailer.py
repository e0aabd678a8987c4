"""The mailer at full speed: 20,000 messages of about 5 KB to Postfix's `smtp-sink`.

The mailer runs as production runs it, `python -m mailer run` against an embedded nats-server
and PostgreSQL, with 20 SMTP sessions and two sender processes (`MAILER_SENDER_PROCESSES=2`,
what docs/operations.md prescribes for a host of two cores or more), in three rounds; then
once as two replicas sharing the work with 10 sessions each and, as two replicas on these two
cores have one core each, one sender process each. Each run has a database of its own, where
the audience, the content and 20,000 deliveries are written before the mailer starts, all due
a year from now; once it is ready (its sender processes running) and idle, one UPDATE makes
them due at instant D. Measured: D to the moment the last delivery is recorded (and then
every one must be `sent`), and the mailer's peak memory (VmHWM).

Reference: Postfix's `smtp-source` sending the same number of messages of the same size to the
same sink over 20 reused sessions (`-s 20 -d`), just before each mailer run, so that a round's
ratio compares two runs a few seconds apart on a machine whose speed drifts. The target is a
quarter of its rate, met by the round of median ratio. `smtp-sink` and `smtp-source` come from
the Debian package `postfix`, installed here when missing (the Postfix daemon itself is never
started).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench._service import peak_memory_mib, tail, wait_ready
from bench.harness import figure, report
from devstack.nats import EmbeddedNats
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from mailer import db
from mailer.dispatcher import dispatch_due
from mailer.domain import Sender
from servicekit.db import UnitOfWork, create_engine
from servicekit.migrations import upgrade
from servicekit.settings import async_url

MESSAGES = 20_000
SESSIONS = 20
SENDER_PROCESSES = 2
MESSAGE_BYTES = 5_000
TARGET = 0.25
# The machine's speed drifts: each mailer run is paired with a reference run just before it,
# and the figure is the round of median ratio.
ROUNDS = 3
SBIN = Path("/usr/sbin")
WORKSPACE = uuid.UUID("00000000-0000-4000-8000-00000000ba11")
MAILER_ENV = {
    "MAILER_SMTP_POOL_SIZE": str(SESSIONS), "MAILER_SENDER_PROCESSES": str(SENDER_PROCESSES),
    "MAILER_BATCH_SIZE": "1000",
    "MAILER_PIPELINE_DEPTH": "2", "MAILER_RECORD_BATCH": "500", "MAILER_POLL_INTERVAL": "0.1",
    "LINK_SIGNING_KEY": "bench-link-signing-key-0123456789abcdef", "LOG_LEVEL": "WARNING",
    "PUBLIC_BASE_URL": "https://mail.bench.example",
}
_PARAGRAPH = (
    "Our spring collection has arrived: tulips from the Keukenhof growers, daffodils, "
    "hyacinths and the first peonies of the season, picked at dawn and delivered the same day."
)


def main() -> None:
    sink_bin, source_bin = _postfix_tools()
    with tempfile.TemporaryDirectory(prefix="bench-mailer-") as tmp:
        root = Path(tmp)
        sink_port = free_port()
        sink = subprocess.Popen(
            [str(sink_bin), "-u", "nobody", f"127.0.0.1:{sink_port}", "256"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            _wait_listening(sink_port)
            with EmbeddedNats(root / "nats") as broker, EmbeddedPostgres(root / "pg") as pg:
                def measured(replicas: int, index: int) -> Round:
                    # Each round on a database of its own: no round inherits another's rows.
                    database = f"mailer_{index}"
                    pg.ensure_database(database)
                    url = pg.uri(database)
                    upgrade("mailer", url)
                    reference = MESSAGES / _smtp_source(source_bin, sink_port)
                    run = asyncio.run(_run(broker.url, url, sink_port, root, replicas=replicas))
                    return Round(run, reference)

                singles = [measured(1, index) for index in range(ROUNDS)]
                pair = measured(2, ROUNDS)
        finally:
            sink.send_signal(signal.SIGTERM)
            sink.wait(timeout=10)
    median = sorted(singles, key=lambda r: r.ratio)[ROUNDS // 2]
    report("mailer", [
        figure("messages sent per run", MESSAGES, "messages"),
        figure("message size (first recipient)", _message_size(), "bytes"),
        figure(f"one mailer: send rate ({SESSIONS} sessions, {SENDER_PROCESSES} sender "
               f"processes), the round of median ratio of {ROUNDS}", median.rate, "messages/s",
               reference=median.reference, target=f">= {TARGET}",
               met=median.rate >= TARGET * median.reference),
        *(figure(f"one mailer, round {index + 1}: send rate", r.rate, "messages/s",
                 reference=r.reference) for index, r in enumerate(singles)),
        figure("one mailer: due to all sent (median round)", median.run.seconds, "s"),
        figure("one mailer: peak memory (VmHWM, its processes summed; largest round)",
               max(r.run.peak_mib for r in singles), "MiB"),
        figure(f"two mailers: send rate ({SESSIONS // 2} sessions, "
               f"{_sender_processes(2)} sender process(es) each)", pair.rate, "messages/s",
               reference=pair.reference),
        figure("two mailers: peak memory of the larger (VmHWM, summed)", pair.run.peak_mib,
               "MiB"),
    ])


def _sender_processes(replicas: int) -> int:
    """One sender process per core, whichever way the cores are shared out among replicas."""
    return max(SENDER_PROCESSES // replicas, 1)


def _postfix_tools() -> tuple[Path, Path]:
    sink, source = SBIN / "smtp-sink", SBIN / "smtp-source"
    if not (sink.exists() and source.exists()):
        _install_postfix()
    return sink, source


def _install_postfix() -> None:
    """Only the package's files: "No configuration" keeps the installer from setting up a
    mail system, and nothing here starts the daemon."""
    if shutil.which("apt-get") is None:
        raise RuntimeError("smtp-sink missing and no apt-get to install postfix with")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["debconf-set-selections"], check=True, env=env, text=True,
                   input="postfix postfix/main_mailer_type select No configuration\n")
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "postfix"],
                   check=True, env=env, stdout=subprocess.DEVNULL)


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"smtp-sink not listening on {port}")


def _smtp_source(source: Path, port: int) -> float:
    """Seconds for smtp-source to send the same load over reused sessions."""
    started = time.monotonic()
    subprocess.run(
        [str(source), "-s", str(SESSIONS), "-m", str(MESSAGES), "-l", str(MESSAGE_BYTES),
         "-d", "-f", "news@shop.example", "-t", "reader@example.com", f"127.0.0.1:{port}"],
        check=True, stdout=subprocess.DEVNULL,
    )
    return time.monotonic() - started


def _content() -> dict[str, str]:
    """About 5 KB once encoded: a preheader, three tracked links and a plain-text twin."""
    paragraphs = "".join(f"<p>{_PARAGRAPH}</p>" for _ in range(6))
    html = (
        "<html><head><style>p { font-family: Georgia, serif; color: #333333 }</style></head>"
        "<body><h1>Hello {{first_name}}</h1>"
        f"{paragraphs}"
        '<p><a href="https://shop.example/spring">Spring</a> · '
        '<a href="https://shop.example/tulips">Tulips</a> · '
        '<a href="https://shop.example/visit">Visit us</a></p></body></html>'
    )
    text = "Hello {{first_name}},\n\n" + "\n\n".join(_PARAGRAPH for _ in range(6))
    return {"subject": "Spring is here, {{first_name}}", "preheader": "Fresh from the field",
            "body_html": html, "body_text": text}


@dataclass(frozen=True)
class Run:
    seconds: float  # D to the last delivery recorded as sent
    peak_mib: float  # the largest of the mailers' VmHWM, each with its sender processes


@dataclass(frozen=True)
class Round:
    """One mailer run and the smtp-source run just before it, in messages per second."""

    run: Run
    reference: float

    @property
    def rate(self) -> float:
        return MESSAGES / self.run.seconds

    @property
    def ratio(self) -> float:
        return self.rate / self.reference


async def _seed(database_url: str) -> tuple[uuid.UUID, int]:
    """A campaign, its audience and every delivery, due a year from now."""
    engine = create_engine(async_url(database_url), pool_size=1)
    campaign_id, audience_id = uuid.uuid4(), uuid.uuid4()
    later = datetime.now(UTC) + timedelta(days=365)
    try:
        async with UnitOfWork(engine) as uow:
            await db.upsert_campaign(
                uow.conn, campaign_id=campaign_id, workspace_id=WORKSPACE,
                audience_id=audience_id, name="Spring", from_name="Flower Shop",
                from_email="news@shop.example", reply_to="help@shop.example",
            )
            members = [(f"reader{i}.{campaign_id.hex[:6]}@example.com", f"Reader {i}",
                        {"city": "Utrecht"})
                       for i in range(MESSAGES)]
            for start in range(0, MESSAGES, 2_000):
                await db.upsert_audience_members(uow.conn, audience_id, WORKSPACE,
                                                 members[start:start + 2_000], later)
            await db.insert_content(uow.conn, campaign_id=campaign_id, sequence=1,
                                    correlation_id=campaign_id, send_at=later, **_content())
            await db.insert_dispatches(uow.conn, campaign_id, 1, [(later, None)])
            await uow.commit()
        # The dispatcher's work at the send time, done ahead.
        created = await dispatch_due(engine, now=later,
                                     default_sender=Sender("Shop", "news@shop.example"))
        async with engine.connect() as conn:
            await conn.execute(sa.text("ANALYZE"))
    finally:
        await engine.dispose()
    return campaign_id, created


async def _run(nats_url: str, database_url: str, sink_port: int, root: Path, *,
               replicas: int) -> Run:
    campaign_id, created = await _seed(database_url)
    assert created == MESSAGES
    processes: list[tuple[asyncio.subprocess.Process, int, Path]] = []
    for index in range(replicas):
        http_port = free_port()
        env = {**os.environ, **MAILER_ENV, "MAILER_DATABASE_URL": database_url,
               "NATS_URL": nats_url, "MAILER_HTTP_PORT": str(http_port),
               "MAILER_SMTP_POOL_SIZE": str(SESSIONS // replicas),
               "MAILER_SENDER_PROCESSES": str(_sender_processes(replicas)),
               "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(sink_port)}
        log = root / f"mailer-{replicas}-{index}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "mailer", "run", env=env, stdout=out,
                stderr=asyncio.subprocess.STDOUT)
        processes.append((process, http_port, log))
    engine = create_engine(async_url(database_url), pool_size=1)
    mine = db.deliveries.c.campaign_id == campaign_id
    try:
        for process, http_port, log in processes:
            await wait_ready(f"http://127.0.0.1:{http_port}", process, log, name="mailer")
        async with engine.begin() as conn:
            await conn.execute(sa.update(db.deliveries).where(mine).values(due_at=sa.func.now()))
        started = time.monotonic()
        deadline = started + 300
        # Watching costs what is left to send, not a scan of every delivery twenty times a
        # second: the partial indexes of pending and sending deliveries answer it.
        unfinished = sa.select(sa.func.count()).where(
            mine, sa.or_(db.deliveries.c.state == "pending", db.deliveries.c.state == "sending"))
        while True:
            async with engine.connect() as conn:
                left = (await conn.execute(unfinished)).scalar_one()
            if left == 0:
                break
            exited = [log for process, _, log in processes if process.returncode is not None]
            if time.monotonic() > deadline or exited:
                logs = "\n".join(tail(log) for _, _, log in processes)
                raise RuntimeError(f"mailer left {left} of {MESSAGES} unsent:\n{logs}")
            await asyncio.sleep(0.05)
        seconds = time.monotonic() - started
        async with engine.connect() as conn:
            sent = (await conn.execute(
                sa.select(sa.func.count()).where(mine, db.deliveries.c.state == "sent")
            )).scalar_one()
        if sent != MESSAGES:
            raise RuntimeError(f"mailer sent {sent} of {MESSAGES}; the rest failed")
        peak = max(_family_peak_mib(process.pid) for process, _, _ in processes)
    finally:
        await engine.dispose()
        for process, _, _ in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await process.wait()
    return Run(seconds, peak)


def _family_peak_mib(pid: int) -> float:
    """The peak memory of a mailer: its own VmHWM plus its sender processes'."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return peak_memory_mib(pid) + sum(peak_memory_mib(child) for child in children)


def _message_size() -> int:
    """What one recipient's message weighs, rendered by the mailer's own code."""
    from contracts.links import LinkClaims, LinkSigner
    from mailer.domain import Content, Recipient, Sender
    from mailer.links import SignedLinks
    from mailer.render import MessageMeta, list_id, render_message

    content = _content()
    links = SignedLinks(LinkSigner(MAILER_ENV["LINK_SIGNING_KEY"]),
                        MAILER_ENV["PUBLIC_BASE_URL"],
                        LinkClaims(WORKSPACE, uuid.uuid4(), 1, "reader0@example.com"))
    message = render_message(
        Sender("Flower Shop", "news@shop.example", "help@shop.example"),
        Recipient("reader0@example.com", "Reader 0", {"city": "Utrecht"}),
        Content(content["subject"], content["preheader"], content["body_html"],
                content["body_text"]),
        MessageMeta(f"<{uuid.uuid4()}@shop.example>", datetime.now(UTC), links),
        list_id=list_id(uuid.uuid4(), "Spring", "shop.example"),
    )
    return len(message)
