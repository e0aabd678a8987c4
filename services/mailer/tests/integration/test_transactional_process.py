"""transactional.requested through the real `python -m mailer run`: published on its stream,
consumed, and in the SMTP sink within seconds; the same event again sends nothing more."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from nats.aio.client import Client

from contracts import TransactionalRequested
from contracts.contacts import TransactionalPayload
from mailer import db


async def test_a_published_confirmation_reaches_the_sink_once_within_seconds(
    mailers: Any, sink: Any, until: Any, clean_streams: None, nats_client: Client
) -> None:
    counter, _ = sink
    mailer = mailers.start()
    await until(lambda: _ready(mailer), 20, "the mailer ready")
    event = TransactionalRequested.create(TransactionalPayload(
        message_id=uuid.uuid4(), kind="confirmation", to="new.reader@example.com",
        subject="Please confirm", body_html="<p>Confirm</p>", body_text="Confirm"),
        workspace_id=uuid.uuid4())
    js = nats_client.jetstream()
    for msg_id in ("first", "again"):  # redelivered under another message id
        await js.publish(event.subject, event.model_dump_json().encode(),
                         headers={"Nats-Msg-Id": f"{event.event_id}-{msg_id}"})

    async def sent() -> bool:
        assert mailer.poll() is None, "the mailer exited"
        async with mailers.engine.connect() as conn:
            states = list(await conn.scalars(sa.select(db.transactional_messages.c.state)))
        return states == ["sent"]

    await until(sent, 15, "the confirmation sent")
    assert counter.snapshot() == {f"<{event.payload.message_id}@localhost>": 1}


async def _ready(mailer: Any) -> bool:
    return bool(mailer.readiness() == 200)
