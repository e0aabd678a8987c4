"""Opens, clicks and unsubscribes from the signed links in every email.

campaign-api is the producer of these events, so each is recorded for the stats in the same
transaction that puts it in the outbox: the counts are exactly what was published. Each open
and click is labelled a person's or a machine's as it is recorded (`engagement_rules`); a hit
on the trap link is recorded as the evidence it is, with no event. The email's counters
(`performance`) change in the same transaction, for its email.performance summary, and a
person's open or click marks the address's send hours due to be learned (`send_hours`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pydantic
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.engagement_rules import (
    BURST_WITHIN,
    TRAP_WITHIN,
    ClickVerdict,
    classify_click,
    classify_open,
)
from campaign_api.performance import RecipientTally, counter_changes
from campaign_api.usecases._contact_writes import suppress
from contracts import EmailClicked, EmailOpened, RecipientUnsubscribed, deterministic_id
from contracts.events import EmailClickedPayload, EngagementRef, RecipientUnsubscribedPayload
from contracts.links import InvalidLink, LinkClaims, LinkSigner, Purpose
from servicekit.db import UnitOfWork


def _claims(signer: LinkSigner, purpose: Purpose, token: str) -> LinkClaims:
    if len(token) > 8_192:
        raise InvalidLink("link too long")
    return signer.verify(purpose, token)


async def record_open(
    engine: AsyncEngine, signer: LinkSigner, token: str, *, user_agent: str = ""
) -> None:
    """Raises InvalidLink for a forged, altered or expired token. `user_agent` as
    engagement_rules.user_agent made it."""
    claims = _claims(signer, "open", token)
    try:
        payload = EngagementRef(campaign_id=claims.campaign_id, sequence=claims.sequence,
                                recipient=claims.email)
    except pydantic.ValidationError as exc:
        raise InvalidLink("link payload has the wrong shape") from exc
    email, at = claims.email.lower(), datetime.now(UTC)
    async with UnitOfWork(engine) as uow:
        # Locked as clicks are: the address's first open must be counted unique once.
        await db.lock_recipient_email(uow.conn, claims.campaign_id, claims.sequence, email)
        before = await db.recipient_tally(uow.conn, claims.campaign_id, claims.sequence, email)
        delivered = await db.delivered_at(uow.conn, claims.campaign_id, claims.sequence, email)
        verdict = classify_open(user_agent,
                                since_delivery=None if delivered is None else at - delivered)
        await db.record_engagement(uow.conn, workspace_id=claims.workspace_id,
                                   campaign_id=claims.campaign_id, sequence=claims.sequence,
                                   email=email, kind="open", occurred_at=at,
                                   human=verdict.human, machine_reason=verdict.reason)
        if verdict.human:
            await db.mark_send_hours_due(uow.conn, claims.workspace_id, email)
        await _count(uow, claims, before)
        uow.publish(EmailOpened.create(payload.model_copy(update={"human": verdict.human}),
                                       workspace_id=claims.workspace_id))
        await uow.commit()


async def record_trap(
    engine: AsyncEngine, signer: LinkSigner, token: str, *, user_agent: str = ""
) -> None:
    """A hit on the trap link of the token's email: a scanner's, and so are the clicks it made
    in the same pass. Raises InvalidLink for a token that does not verify."""
    if len(token) > 8_192:
        raise InvalidLink("link too long")
    claims = signer.verify_trap(token)
    async with UnitOfWork(engine) as uow:
        await _record_click(uow, claims, url=None, user_agent=user_agent)
        await uow.commit()


async def _record_click(
    uow: UnitOfWork, claims: LinkClaims, *, url: str | None, user_agent: str
) -> bool:
    """The click on `url` (None: the trap link), labelled, and the earlier clicks of the
    same email the rules say the same machine made; whether it was labelled a person's."""
    email = claims.email.lower()
    campaign_id, sequence = claims.campaign_id, claims.sequence
    await db.lock_recipient_email(uow.conn, campaign_id, sequence, email)
    at = datetime.now(UTC)  # once the lock is held: the clicks of an email are in time order
    before = await db.recipient_tally(uow.conn, campaign_id, sequence, email)
    earlier = await db.clicks_since(uow.conn, campaign_id, sequence, email,
                                    at - max(BURST_WITHIN, TRAP_WITHIN))
    links = await db.links_of_email(uow.conn, campaign_id, sequence)
    decided: ClickVerdict = classify_click(user_agent, url=url, at=at, earlier=earlier,
                                           links=links)
    verdict = decided.verdict
    if verdict.reason is not None:
        await db.label_machine(uow.conn, decided.relabel, verdict.reason)
    await db.record_engagement(uow.conn, workspace_id=claims.workspace_id,
                               campaign_id=campaign_id, sequence=sequence, email=email,
                               kind="click" if url is not None else "trap", url=url,
                               occurred_at=at, human=verdict.human,
                               machine_reason=verdict.reason)
    # A person's click teaches the send hours; so does a click taken back from them.
    if (verdict.human and url is not None) or decided.relabel:
        await db.mark_send_hours_due(uow.conn, claims.workspace_id, email)
    await _count(uow, claims, before)
    return verdict.human


async def _count(uow: UnitOfWork, claims: LinkClaims, before: RecipientTally) -> None:
    """Bring the email's counters up to date with what the address's engagement just became
    (under lock_recipient_email, so no other recording of the address interleaves)."""
    email = claims.email.lower()
    after = await db.recipient_tally(uow.conn, claims.campaign_id, claims.sequence, email)
    changes = counter_changes(before, after)
    if changes:
        await db.bump_email(uow.conn, claims.campaign_id, claims.sequence, **changes)


async def record_click(
    engine: AsyncEngine, signer: LinkSigner, token: str, target: str | None = None, *,
    user_agent: str = "",
) -> str:
    """The URL the email linked to (the only place a click link can lead). A link is either
    one click token or, as the mailer makes them, the recipient's click token and the link's
    target token."""
    if target is None:
        claims = _claims(signer, "click", token)
    elif len(token) + len(target) > 8_192:
        raise InvalidLink("link too long")
    else:
        claims = signer.verify_click(token, target)
    url = claims.url or ""
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise InvalidLink("link target is not a web address")
    try:
        payload = EmailClickedPayload(campaign_id=claims.campaign_id, sequence=claims.sequence,
                                      recipient=claims.email, url=url)
    except pydantic.ValidationError as exc:
        raise InvalidLink("link payload has the wrong shape") from exc
    async with UnitOfWork(engine) as uow:
        human = await _record_click(uow, claims, url=url, user_agent=user_agent)
        uow.publish(EmailClicked.create(payload.model_copy(update={"human": human}),
                                        workspace_id=claims.workspace_id))
        await uow.commit()
    return url


def unsubscribe_claims(signer: LinkSigner, token: str) -> LinkClaims:
    """Check an unsubscribe token without acting on it (the confirmation page)."""
    return _claims(signer, "unsubscribe", token)


async def already_unsubscribed(engine: AsyncEngine, claims: LinkClaims) -> bool:
    """Whether the link's address is unsubscribed from its workspace already (by any link)."""
    async with engine.connect() as conn:
        return await db.is_unsubscribed(conn, claims.workspace_id, claims.email.lower())


async def unsubscribe(engine: AsyncEngine, signer: LinkSigner, token: str) -> LinkClaims:
    """Unsubscribe the token's address from the workspace. Repeating it changes nothing."""
    claims = _claims(signer, "unsubscribe", token)
    async with UnitOfWork(engine) as uow:
        await record_unsubscribe(uow, claims)
        # The contact too; a bounced or complained one keeps that, the stronger reason.
        await suppress(uow, claims.workspace_id, [claims.email.lower()], status="unsubscribed",
                       reason="unsubscribed", correlation_id=None,
                       unless=("bounced", "complained"))
        await uow.commit()
    return claims


async def record_unsubscribe(uow: UnitOfWork, claims: LinkClaims) -> None:
    """recipient.unsubscribed and the engagement it counts as, once per address and campaign
    (the one-click link and the preference centre's "unsubscribe from everything")."""
    email = claims.email.lower()
    try:
        payload = RecipientUnsubscribedPayload(email=email, campaign_id=claims.campaign_id)
    except pydantic.ValidationError as exc:
        raise InvalidLink("link payload has the wrong shape") from exc
    seen = await db.has_engagement(uow.conn, workspace_id=claims.workspace_id,
                                   campaign_id=claims.campaign_id, email=email,
                                   kind="unsubscribe")
    if not seen:
        await db.record_engagement(uow.conn, workspace_id=claims.workspace_id,
                                   campaign_id=claims.campaign_id, sequence=claims.sequence,
                                   email=email, kind="unsubscribe", human=True)
        await db.bump_email(uow.conn, claims.campaign_id, claims.sequence, unsubscribes=1)
        uow.publish(RecipientUnsubscribed.create(
            payload, workspace_id=claims.workspace_id,
            event_id=deterministic_id("recipient.unsubscribed", claims.workspace_id, email,
                                      claims.campaign_id)))
