"""A journey's emails go to one contact at a time: content.generated stores a step's content
(`handlers.on_content_generated`, no dispatch), and each journey.step_due the scheduler
publishes for an enrollment reaching an email step creates that contact's one delivery.

The delivery is then claimed, checked and sent as any other (`mailer.sender`): the contact
subscribed and not suppressed then, the campaign neither paused nor cancelled, the frequency
cap, merge fields from the contact's copy, tracking tokens under the step's sequence. Only
the list check does not apply: a journey's contacts are its enrollments.
"""

from __future__ import annotations

import structlog

from contracts import JourneyStepDue, deterministic_id
from mailer import db
from mailer.domain import Sender
from servicekit.consumer import RetryLater
from servicekit.db import UnitOfWork

log = structlog.get_logger(__name__)

# journey.* travel on another stream than campaign.*, contacts.* and content.*: what the
# step needs is usually there within seconds, its content within a model's writing time.
UNKNOWN_DELAY = 5.0
CONTENT_DELAY = 15.0


async def on_step_due(event: JourneyStepDue, uow: UnitOfWork, *, default_sender: Sender) -> None:
    """One pending delivery for the enrolled contact, due at the step's `send_at`; its id is
    derived from (enrollment, step), so the event again creates nothing and a contact who
    entered the journey again gets the step's email again.

    Raises RetryLater until the campaign, the contact and the step's content have arrived."""
    p = event.payload
    campaign = await db.get_campaign(uow.conn, p.campaign_id)
    if campaign is None:
        raise RetryLater(f"campaign {p.campaign_id} not known yet", UNKNOWN_DELAY)
    if campaign.kind != "journey":
        log.warning("mailer.step_of_no_journey", campaign_id=str(p.campaign_id))
        return
    if campaign.state == "cancelled":
        return
    if not await db.contact_known(uow.conn, campaign.workspace_id, p.email):
        raise RetryLater(f"contact of enrollment {p.enrollment_id} not known yet",
                         UNKNOWN_DELAY)
    if not await db.content_stored(uow.conn, p.campaign_id, p.sequence):
        raise RetryLater(f"email {p.sequence} of journey {p.campaign_id} not written yet",
                         CONTENT_DELAY)
    delivery_id = deterministic_id("journey.delivery", p.enrollment_id, p.step_id)
    domain = (campaign.from_email or default_sender.address).rpartition("@")[2]
    created = await db.insert_step_delivery(
        uow.conn, delivery_id=delivery_id, campaign_id=p.campaign_id, sequence=p.sequence,
        email=p.email, audience_id=campaign.audience_id, message_domain=domain,
        due_at=p.send_at)
    log.info("mailer.step_delivery", campaign_id=str(p.campaign_id), sequence=p.sequence,
             step_id=p.step_id, created=created, due_at=p.send_at.isoformat())
