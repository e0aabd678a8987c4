"""Fixtures for the mailer's tests: a migrated database, a real SMTP server that can be told
how to answer, and a small factory that feeds events through the real handlers."""

from __future__ import annotations

import asyncio
import email
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import (
    AudienceMember,
    AudienceMembersAdded,
    AudienceMembersRemoved,
    CampaignCancelled,
    CampaignCreated,
    CampaignDefinition,
    ContentGenerated,
    Event,
    Schedule,
)
from contracts.events import (
    AudienceMembersAddedPayload,
    AudienceMembersRemovedPayload,
    CampaignRef,
    ContentGeneratedPayload,
)
from contracts.links import LinkSigner
from devstack.ports import LOOPBACK, free_port
from mailer import db, handlers
from mailer.dispatcher import dispatch_due
from mailer.domain import Sender
from mailer.sender import SendOptions, send_due_batch
from mailer.smtp import SmtpConfig, SmtpPool
from servicekit.db import UnitOfWork, create_engine, outbox
from servicekit.settings import async_url
from testkit.fixtures import CreateDatabase

DEFAULT_SENDER = Sender("Campaign Builder", "campaigns@localhost")
LINK_KEY = "test-link-signing-key-0123456789abcdef"
LINKS = LinkSigner(LINK_KEY)
SEND_AT = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


# --- SMTP ------------------------------------------------------------------------------------


@dataclass
class ScriptedSmtp:
    """An aiosmtpd handler: accepts everything unless told otherwise for an address.

    `script(address, "451 4.7.1 Try later", "250")` answers that address's next RCPTs in
    order (a reply starting with 250 accepts; a 421 reply also closes the connection, as
    RFC 5321 asks). "close" closes the connection at RCPT without a reply; "drop" accepts the
    RCPT, reads the message and closes the connection without the final reply.
    `script_data(address, "552 5.2.2 Mailbox full")` answers that address's next DATA instead
    of accepting it; "slow:2.5" waits that many seconds, then accepts.
    """

    received: list[EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)  # as received, for signature checks
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    _scripts: dict[str, list[str]] = field(default_factory=dict)
    _data_scripts: dict[str, list[str]] = field(default_factory=dict)
    _drop: set[str] = field(default_factory=set)

    def script(self, address: str, *replies: str) -> None:
        self._scripts.setdefault(address.lower(), []).extend(replies)

    def script_data(self, address: str, *replies: str) -> None:
        self._data_scripts.setdefault(address.lower(), []).extend(replies)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.received if m["To"].addresses[0].addr_spec == address]

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
        responses: list[str],
    ) -> list[str]:
        # aiosmtpd reads commands one by one whenever they arrive, so it can offer PIPELINING
        # as Postfix does: the sessions then run as they do against a production server.
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:
        replies = self._scripts.get(address.lower())
        reply = replies.pop(0) if replies else "250 OK"
        assert server.transport is not None
        if reply == "close":
            server.transport.close()
            return "250 OK"  # never reaches the client
        if reply.startswith("421"):
            # After the reply has been written.
            asyncio.get_running_loop().call_soon(server.transport.close)
            return reply
        if reply == "drop":
            self._drop.add(address.lower())
        elif not reply.startswith("250"):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        for rcpt in envelope.rcpt_tos:
            replies = self._data_scripts.get(rcpt.lower())
            if replies:
                reply = replies.pop(0)
                if not reply.startswith("slow:"):
                    return reply
                await asyncio.sleep(float(reply.removeprefix("slow:")))
        assert isinstance(envelope.original_content, bytes)
        message = email.message_from_bytes(envelope.original_content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.received.append(message)
        self.raw.append(envelope.original_content)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        dropped = {r.lower() for r in envelope.rcpt_tos} & self._drop
        if dropped:
            self._drop -= dropped
            assert server.transport is not None
            server.transport.close()
        return "250 2.0.0 Ok: queued"


@pytest.fixture
def smtp_server() -> Iterator[Controller]:
    """A real SMTP server on a free port, on its own thread; `.handler` is a ScriptedSmtp."""
    controller = Controller(ScriptedSmtp(), hostname=LOOPBACK, port=free_port(),
                            server_hostname="sink.test")
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def smtp(smtp_server: Controller) -> ScriptedSmtp:
    handler = smtp_server.handler
    assert isinstance(handler, ScriptedSmtp)
    return handler


@pytest.fixture
async def transport(smtp_server: Controller) -> AsyncIterator[SmtpPool]:
    pool = SmtpPool(SmtpConfig(LOOPBACK, smtp_server.port, timeout=5.0), size=2)
    yield pool
    await pool.close()


# --- database ---------------------------------------------------------------------------------


@pytest.fixture
async def engine(migrated_database: CreateDatabase) -> AsyncIterator[AsyncEngine]:
    url = await migrated_database("mailer")
    engine = create_engine(async_url(url), pool_size=2)
    yield engine
    await engine.dispose()


# --- events ----------------------------------------------------------------------------------


@dataclass
class World:
    """Feeds events through the real handlers: `await world.campaign(); await
    world.members(...); await world.content(1)`; then `await world.send(now)`."""

    engine: AsyncEngine
    transport: SmtpPool
    send_at: datetime = SEND_AT
    default_sender: Sender = DEFAULT_SENDER
    workspace_id: uuid.UUID = field(default_factory=uuid.uuid4)
    campaign_id: uuid.UUID = field(default_factory=uuid.uuid4)
    audience_id: uuid.UUID = field(default_factory=uuid.uuid4)
    options: SendOptions = field(default_factory=lambda: SendOptions(
        link_signer=LINKS, batch_size=50, default_sender=DEFAULT_SENDER,
        public_base_url="https://mail.example.org",
    ))

    async def handle(self, handler: Callable[..., Awaitable[None]], event: Event,
                     **ports: Any) -> None:
        """What the consumer does around a handler: one unit of work, committed."""
        async with UnitOfWork(self.engine) as uow:
            await handler(event, uow, **ports)
            await uow.commit()

    async def fetch(self, query: sa.Executable) -> list[sa.Row[Any]]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(query)).all())

    async def deliveries(self) -> dict[str, sa.Row[Any]]:
        """Every delivery row, by recipient address."""
        return {r.email: r for r in await self.fetch(sa.select(db.deliveries))}

    async def events(self, subject: str) -> list[dict[str, Any]]:
        """The outbox rows of one subject as JSON, each with its row's event id."""
        rows = await self.fetch(sa.select(outbox).where(outbox.c.subject == subject)
                                .order_by(outbox.c.id))
        return [json.loads(r.data) | {"outbox_event_id": str(r.event_id)} for r in rows]

    def envelope(self) -> dict[str, Any]:
        return {"workspace_id": self.workspace_id, "correlation_id": self.campaign_id}

    async def campaign(self, **overrides: Any) -> None:
        definition: dict[str, Any] = {
            "campaign_id": self.campaign_id, "audience_id": self.audience_id,
            "name": "Spring news", "description": "Seasonal offers", "model": "test/model",
            "from_name": "Flower Shop", "from_email": "news@flowers.example",
            "reply_to": "help@flowers.example",
            "schedule": Schedule(schedule_type="daily", total_emails=3,
                                 start_at=SEND_AT - timedelta(days=1)),
        } | overrides
        event = CampaignCreated.create(CampaignDefinition(**definition), **self.envelope())
        await self.handle(handlers.on_campaign_defined, event)

    async def cancel(self) -> None:
        event = CampaignCancelled.create(CampaignRef(campaign_id=self.campaign_id),
                                         **self.envelope())
        await self.handle(handlers.on_lifecycle, event, change="cancelled")

    async def members(self, *members: tuple[str, str] | tuple[str, str, dict[str, str]]) -> None:
        listed = [AudienceMember(email=m[0], name=m[1], fields=m[2] if len(m) > 2 else {})
                  for m in members]
        event = AudienceMembersAdded.create(
            AudienceMembersAddedPayload(audience_id=self.audience_id, members=listed),
            **self.envelope(),
        )
        await self.handle(handlers.on_members_added, event)

    def removal(self, *emails: str) -> Event:
        return AudienceMembersRemoved.create(
            AudienceMembersRemovedPayload(audience_id=self.audience_id, emails=list(emails)),
            **self.envelope(),
        )

    def content_event(self, sequence: int = 1, **overrides: Any) -> ContentGenerated:
        payload: dict[str, Any] = {
            "campaign_id": self.campaign_id, "sequence": sequence, "send_at": SEND_AT,
            "subject": "Hello {{first_name}}", "preheader": "Fresh tulips for {{name}}",
            "body_html": "<html><body><p>Dear {{name}}, tulips are in.</p></body></html>",
            "body_text": "Dear {{name}}, tulips are in.",
            "model": "test/model", "provider": "offline",
        } | overrides
        return ContentGenerated.create(ContentGeneratedPayload(**payload), **self.envelope())

    async def content(
        self, sequence: int = 1, *, dispatch: bool = True, **overrides: Any
    ) -> ContentGenerated:
        """The email stored and, unless `dispatch` is False, its send time come: its
        deliveries created for the members of that moment."""
        event = self.content_event(sequence, **overrides)
        await self.handle(handlers.on_content_generated, event)
        if dispatch:
            await self.dispatch(event.payload.send_at)
        return event

    async def dispatch(self, now: datetime) -> int:
        """What the dispatcher does at `now`: the deliveries of every dispatch due by then."""
        return await dispatch_due(self.engine, now=now, default_sender=self.default_sender)

    async def send(self, now: datetime, **options: Any) -> int:
        """The dispatcher's and the sender's work at `now`."""
        await self.dispatch(now)
        opts = replace(self.options, **options) if options else self.options
        return await send_due_batch(self.engine, self.transport, options=opts, now=now)


@pytest.fixture
def world(engine: AsyncEngine, transport: SmtpPool) -> World:
    return World(engine, transport)
