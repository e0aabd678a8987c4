"""transactional.requested: stored once, sent at once to the SMTP sink, untracked, outside the
frequency cap and the campaign events."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from contracts import SuppressionAdded, TransactionalRequested, WorkspaceUpdated
from contracts.contacts import SuppressionPayload, TransactionalPayload
from contracts.events import WorkspaceSettingsPayload
from mailer import db, handlers, policy_handlers
from mailer.transactional import send_transactional

if TYPE_CHECKING:  # test modules cannot import each other; the fixtures provide these
    from conftest import ScriptedSmtp, World

ANN = "ann@example.com"
CONFIRM = "https://app.example.org/confirm?token=abc.def"


def _requested(world: World, to: str = ANN, **overrides: Any) -> TransactionalRequested:
    payload: dict[str, Any] = {
        "message_id": uuid.uuid4(), "kind": "confirmation", "to": to, "to_name": "Ann Lee",
        "from_name": "Flower Shop", "from_email": "news@flowers.example",
        "subject": "Please confirm your subscription",
        "body_html": f'<p>Hello {{{{first_name}}}}, <a href="{CONFIRM}">confirm</a>.</p>',
        "body_text": f"Hello {{{{first_name}}}}, confirm: {CONFIRM}",
    } | overrides
    return TransactionalRequested.create(TransactionalPayload(**payload),
                                         workspace_id=world.workspace_id)


async def _send(world: World) -> int:
    return await send_transactional(world.engine, world.transport, options=world.options,
                                    now=world.send_at + timedelta(days=1000))


async def _messages(world: World) -> list[Any]:
    return await world.fetch(sa.select(db.transactional_messages))


async def test_a_confirmation_is_delivered_as_written_without_tracking_or_list_headers(
    world: World, smtp: ScriptedSmtp
) -> None:
    event = _requested(world)
    await world.handle(policy_handlers.on_transactional_requested, event)
    await world.handle(policy_handlers.on_transactional_requested, event)  # redelivered

    assert await _send(world) == 1
    assert await _send(world) == 0

    [message] = smtp.to(ANN)
    assert message["Subject"] == "Please confirm your subscription"
    assert message["From"].addresses[0].addr_spec == "news@flowers.example"
    assert message["Message-ID"] == f"<{event.payload.message_id}@flowers.example>"
    for header in ("List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"):
        assert message[header] is None
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert text.strip() == f"Hello Ann, confirm: {CONFIRM}"
    # The link is the one written, not a tracked redirect; no open pixel, no footer.
    assert f'href="{CONFIRM}"' in html
    assert "<img" not in html
    assert "mail.example.org" not in html + text  # the public base URL of tracked links
    [row] = await _messages(world)
    assert (row.state, row.attempts, row.smtp_code) == ("sent", 1, 250)
    # Not campaign mail: no email.sent (nor anything else) for campaign-api to count.
    assert await world.events("email.sent") == []
    assert await world.events("email.failed") == []


async def test_only_a_bounce_or_complaint_stops_a_confirmation(
    world: World, smtp: ScriptedSmtp
) -> None:
    left, bounced = "left@example.com", "gone@example.com"
    for email, reason in ((left, "unsubscribed"), (bounced, "bounced")):
        event = SuppressionAdded.create(SuppressionPayload(emails=[email], reason=reason),
                                        workspace_id=world.workspace_id)
        await world.handle(handlers.on_suppression_added, event)
    for email in (left, bounced):
        await world.handle(policy_handlers.on_transactional_requested, _requested(world, email))

    await _send(world)

    assert len(smtp.to(left)) == 1
    assert smtp.to(bounced) == []
    states = {r.email: r.state for r in await _messages(world)}
    assert states == {left: "sent", bounced: "suppressed"}


async def test_a_temporary_failure_is_retried_by_the_retry_policy(
    world: World, smtp: ScriptedSmtp
) -> None:
    smtp.script(ANN, "451 4.7.1 Greylisted, try again later")
    await world.handle(policy_handlers.on_transactional_requested, _requested(world))

    await _send(world)
    [row] = await _messages(world)
    assert (row.state, row.attempts, row.smtp_code) == ("pending", 1, 451)
    assert smtp.to(ANN) == []

    await send_transactional(world.engine, world.transport, options=world.options,
                             now=row.due_at)
    [row] = await _messages(world)
    assert (row.state, row.attempts) == ("sent", 2)
    assert len(smtp.to(ANN)) == 1


async def test_transactional_mail_is_exempt_from_and_not_counted_by_the_frequency_cap(
    world: World, smtp: ScriptedSmtp
) -> None:
    settings = WorkspaceSettingsPayload(name="Shop", frequency_cap_day=1)
    await world.handle(policy_handlers.on_workspace_updated,
                       WorkspaceUpdated.create(settings, workspace_id=world.workspace_id))
    await world.campaign()
    await world.members((ANN, "Ann"))
    await world.content(1)
    for _ in range(2):
        await world.handle(policy_handlers.on_transactional_requested, _requested(world))
    await _send(world)

    await world.send(world.send_at)

    assert len(smtp.to(ANN)) == 3
    assert [r.state for r in await world.fetch(sa.select(db.deliveries))] == ["sent"]
