"""contact.erased: afterwards no mailer table holds the address (every text, JSON and bytes
column of every table searched), and the workspace's other contacts are untouched."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from contracts import ContactErased, SuppressionAdded, TransactionalRequested
from contracts.contacts import ContactErasedPayload, SuppressionPayload, TransactionalPayload
from mailer import db, handlers, policy_handlers
from mailer.transactional import send_transactional
from servicekit.db import outbox, parked_events
from testkit.holders import columns_holding

if TYPE_CHECKING:  # test modules cannot import each other; the fixtures provide these
    from conftest import ScriptedSmtp, World

ANN, BOB = "ann.erased@example.com", "bob@example.com"


async def test_after_contact_erased_no_mailer_table_holds_the_address(
    world: World, smtp: ScriptedSmtp
) -> None:
    # Ann was sent one campaign's email, has another one pending (retried after a 4xx), a
    # sign-up confirmation, a suppression and a parked event; Bob was sent the same email.
    second = replace(world, campaign_id=uuid.uuid4(), audience_id=uuid.uuid4())
    for w in (world, second):
        await w.campaign()
        await w.members((ANN, "Ann Erased"), (BOB, "Bob"))
        await w.content(1)
    smtp.script(ANN, "250", "451 4.7.1 try later")
    await world.send(world.send_at)
    confirmation = TransactionalRequested.create(TransactionalPayload(
        message_id=uuid.uuid4(), kind="confirmation", to=ANN, subject="Confirm",
        body_html="<p>Confirm</p>", body_text="Confirm"), workspace_id=world.workspace_id)
    await world.handle(policy_handlers.on_transactional_requested, confirmation)
    await send_transactional(world.engine, world.transport, options=world.options,
                             now=world.send_at + timedelta(days=1))
    await world.handle(handlers.on_suppression_added, SuppressionAdded.create(
        SuppressionPayload(emails=[ANN], reason="complained"), workspace_id=world.workspace_id))
    async with world.engine.begin() as conn:
        await conn.execute(sa.update(outbox).values(published_at=sa.func.now()))
        await conn.execute(sa.insert(parked_events).values(
            consumer="mailer", subject="contacts.changed", reason="r", attempts=3,
            data=f'{{"contacts":[{{"email":"{ANN}"}}]}}'.encode()))
        holding = await columns_holding(conn, ANN)
    assert {"contacts.email", "memberships.email", "deliveries.email", "suppressions.email",
            "transactional_messages.email", "outbox.data", "parked_events.data"} <= set(holding)
    states = sorted(r.state for r in await world.fetch(
        sa.select(db.deliveries).where(db.deliveries.c.email == ANN)))
    assert states == ["pending", "sent"]

    erased = ContactErased.create(ContactErasedPayload(email=ANN),
                                  workspace_id=world.workspace_id)
    await world.handle(policy_handlers.on_contact_erased, erased)

    async with world.engine.connect() as conn:
        assert await columns_holding(conn, ANN) == []
        # Bob's contact, memberships, deliveries and their published events stay.
        bob = await columns_holding(conn, BOB)
    assert {"contacts.email", "memberships.email", "deliveries.email", "outbox.data"} <= set(bob)
    assert len(await world.fetch(sa.select(db.deliveries))) == 2


async def test_erasure_in_one_workspace_leaves_the_same_address_in_another(
    world: World, smtp: ScriptedSmtp
) -> None:
    other = replace(world, workspace_id=uuid.uuid4(), campaign_id=uuid.uuid4(),
                    audience_id=uuid.uuid4())
    for w in (world, other):
        await w.campaign()
        await w.members((ANN, "Ann"))
        await w.content(1)
    await world.send(world.send_at)

    await world.handle(policy_handlers.on_contact_erased, ContactErased.create(
        ContactErasedPayload(email=ANN), workspace_id=world.workspace_id))

    [kept] = await world.fetch(sa.select(db.deliveries))
    assert kept.campaign_id == other.campaign_id
    [contact] = await world.fetch(sa.select(db.contacts))
    assert contact.workspace_id == other.workspace_id
