"""A journey's action step carried out on one contact (journey.action from the scheduler):
a tag put on or taken off, the contact added to or removed from a list, through the same
writes as the API's, so contacts.changed and list.members.* follow as for any change.

Idempotent twice over: the inbox handles each event once, and each write changes (and
publishes) nothing when the contact already is as the action wants. A contact or list gone
since the step fell due is nothing to act on."""

from __future__ import annotations

import structlog

from campaign_api import db
from campaign_api.contacts_domain import MAX_TAGS, InvalidContact, tags_of
from campaign_api.domain import normalise_email
from campaign_api.usecases._contact_events import publish_contacts_changed
from campaign_api.usecases._contact_writes import add_members, remove_members
from campaign_api.usecases.journey_history import record_reached
from contracts import JourneyActionDue
from servicekit.db import UnitOfWork

log = structlog.get_logger(__name__)


async def on_journey_action(event: JourneyActionDue, uow: UnitOfWork) -> None:
    p = event.payload
    workspace_id, correlation_id = event.workspace_id, event.correlation_id
    email = normalise_email(p.email)
    contact_id = (await db.ids_by_email(uow.conn, workspace_id, [email])).get(email)
    if contact_id is None:
        log.info("journey.action.no_contact", campaign_id=str(p.campaign_id), step=p.step_id)
        return
    await record_reached(uow, event)  # the contact's journey history
    if p.tag is not None:
        try:
            tag = tags_of([p.tag], path="tag")[0]
        except InvalidContact:
            log.warning("journey.action.bad_tag", campaign_id=str(p.campaign_id),
                        step=p.step_id)
            return
        changed = await db.retag(uow.conn, workspace_id, [contact_id], tag,
                                 add=p.action == "add_tag", max_tags=MAX_TAGS)
        publish_contacts_changed(uow, workspace_id, changed, correlation_id)
        return
    assert p.list_id is not None  # the contract: a list action has its list
    if await db.workspace_list(uow.conn, workspace_id, p.list_id) is None:
        log.info("journey.action.no_list", campaign_id=str(p.campaign_id), step=p.step_id)
        return
    if p.action == "add_to_list":
        await add_members(uow, workspace_id, p.list_id, [contact_id], correlation_id)
    else:
        await remove_members(uow, workspace_id, p.list_id, [contact_id], correlation_id)
