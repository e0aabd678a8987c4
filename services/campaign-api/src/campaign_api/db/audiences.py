"""A campaign's own list, its members marked with what their engagement and deliveries say of
them, and the count of a campaign's whole audience."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.contact_tables import contacts, list_members, lists
from campaign_api.db.engagement import unsubscribed_from
from campaign_api.db.failures import delivery_failed
from campaign_api.db.tables import AnyRow


async def insert_campaign_list(conn: AsyncConnection, *, audience_id: uuid.UUID,
                               workspace_id: uuid.UUID, campaign_id: uuid.UUID,
                               name: str) -> None:
    # Not on the preference centre: leaving one campaign is what its unsubscribe link does.
    await conn.execute(lists.insert().values(
        id=audience_id, workspace_id=workspace_id, campaign_id=campaign_id, name=name,
        kind="campaign", public=False))


async def own_list_page(
    conn: AsyncConnection, audience_id: uuid.UUID, campaign_id: uuid.UUID, *, limit: int,
    after: str | None,
) -> list[AnyRow]:
    """A page of the campaign's own list, each member marked: unsubscribed (from the
    workspace), and whether any of the campaign's deliveries to it bounced or was
    suppressed."""
    c = contacts.c
    query = (sa.select(c.email, c.name, c.fields, list_members.c.added_at,
                       sa.or_(c.status == "unsubscribed",
                              unsubscribed_from(c.workspace_id, c.email)).label("unsubscribed"),
                       delivery_failed(campaign_id, c.email, "bounced").label("bounced"),
                       delivery_failed(campaign_id, c.email, "suppressed").label("suppressed"))
             .join(list_members, list_members.c.contact_id == c.id)
             .where(list_members.c.list_id == audience_id))
    if after is not None:
        query = query.where(c.email > after)
    return list((await conn.execute(query.order_by(c.email).limit(limit))).all())


# How many distinct contacts a campaign's audience holds now: its own list and the lists and
# segments it includes, less those on any list or segment it excludes (the targets of its
# definition). One correlated subquery over the memberships' indexes, counted in the database;
# it refers to the enclosing query's `campaigns` row. Constant text: no input is put in it.
AUDIENCE_SIZE = sa.literal_column("""(SELECT count(*) FROM (
    SELECT contact_id FROM list_members
    WHERE list_id = campaigns.audience_id OR list_id IN (
        SELECT value::uuid
        FROM jsonb_array_elements_text(campaigns.definition #> '{targets,include}'))
    UNION
    SELECT contact_id FROM segment_members WHERE segment_id IN (
        SELECT value::uuid
        FROM jsonb_array_elements_text(campaigns.definition #> '{targets,include}'))
    EXCEPT (
        SELECT contact_id FROM list_members WHERE list_id IN (
            SELECT value::uuid
            FROM jsonb_array_elements_text(campaigns.definition #> '{targets,exclude}'))
        UNION
        SELECT contact_id FROM segment_members WHERE segment_id IN (
            SELECT value::uuid
            FROM jsonb_array_elements_text(campaigns.definition #> '{targets,exclude}')))
) AS audience)""", type_=sa.Integer)
