"""A/B tests in the mailer: a tested email's variants are stored with its content; each
dispatch gives its new deliveries their variant, or holds them (`db.assign_variants`); the
winner, once campaign-api publishes it, goes to every held recipient. A delivery's variant is
set once, so every recipient is sent exactly one variant however often any of this runs."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts import AbTestDecided
from contracts.events import ContentGeneratedPayload
from mailer import db
from servicekit.consumer import RetryLater
from servicekit.db import UnitOfWork

log = structlog.get_logger(__name__)

# ab_test.decided travels on another stream than content.generated.
UNKNOWN_TEST_DELAY = 5.0


async def store_test(conn: AsyncConnection, p: ContentGeneratedPayload) -> None:
    """The test and variants of an email just stored; nothing for an untested one."""
    if p.ab_test is None or not p.variants:
        return
    await db.insert_test(conn, p.campaign_id, p.sequence, slice_buckets=p.ab_test.slice_buckets,
                         variants=p.variants)


async def assign(conn: AsyncConnection, dispatch: db.DueDispatch) -> None:
    """After a dispatch created deliveries: their variants, or held, for a tested email."""
    assigned = await db.assign_variants(conn, dispatch.campaign_id, dispatch.sequence)
    if assigned:
        log.info("mailer.variants_assigned", campaign_id=str(dispatch.campaign_id),
                 sequence=dispatch.sequence, deliveries=assigned)


async def on_ab_test_decided(event: AbTestDecided, uow: UnitOfWork) -> None:
    """The held recipients are sent the winner; a second decision for the same email (an
    operator's after the decider's, say) changes nothing."""
    p = event.payload
    if not await db.test_known(uow.conn, p.campaign_id, p.sequence):
        campaign = await db.get_campaign(uow.conn, p.campaign_id)
        if campaign is not None and campaign.state == "cancelled":
            return  # its content was never stored, nor anyone held
        raise RetryLater(f"email {p.sequence} of campaign {p.campaign_id} not known yet",
                         UNKNOWN_TEST_DELAY)
    if not await db.decide(uow.conn, p.campaign_id, p.sequence, winner=p.winner,
                           at=p.decided_at):
        log.info("mailer.test_decided_before", campaign_id=str(p.campaign_id),
                 sequence=p.sequence)
        return
    released = await db.release_held(uow.conn, p.campaign_id, p.sequence, winner=p.winner,
                                     now=datetime.now(UTC))
    log.info("mailer.winner_released", campaign_id=str(p.campaign_id), sequence=p.sequence,
             winner=p.winner, rule=p.rule, deliveries=released)
