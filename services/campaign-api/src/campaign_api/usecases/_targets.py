"""A campaign's targets: the lists and segments of its `audience`, each checked to be the
workspace's own, carried in the definition as include / exclude ids."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api import db
from campaign_api.failures import Invalid
from campaign_api.schemas_contacts import Audience
from contracts import AudienceTargets


async def checked_targets(conn: AsyncConnection, workspace_id: uuid.UUID,
                          audience: Audience | None) -> AudienceTargets:
    """422 naming the first id that is not this workspace's (`audience.lists[1]`)."""
    if audience is None:
        return AudienceTargets()
    lists = await db.owned_ids(conn, workspace_id, db.lists,
                               [*audience.lists, *audience.exclude_lists])
    segments = await db.owned_ids(conn, workspace_id, db.segments,
                                  [*audience.segments, *audience.exclude_segments])
    for name, owned, kind in (("lists", lists, "list"), ("segments", segments, "segment"),
                              ("exclude_lists", lists, "list"),
                              ("exclude_segments", segments, "segment")):
        for i, target in enumerate(getattr(audience, name)):
            if target not in owned:
                raise Invalid.field(f"audience.{name}[{i}]",
                                    f"no {kind} {target} in this workspace")
    include = list(dict.fromkeys([*audience.lists, *audience.segments]))
    exclude = list(dict.fromkeys([*audience.exclude_lists, *audience.exclude_segments]))
    if len(include) > 50 or len(exclude) > 50:
        raise Invalid.field("audience", "at most 50 lists and segments to include, and 50 to "
                            "exclude")
    return AudienceTargets(include=include, exclude=exclude)


async def audience_of(conn: AsyncConnection, workspace_id: uuid.UUID,
                      targets: AudienceTargets) -> Audience:
    """The targets told apart again into lists and segments, as the API shows them (one
    deleted since reads as a list: it has no members either way)."""
    segments = await db.owned_ids(conn, workspace_id, db.segments, [*targets.include,
                                                                     *targets.exclude])
    return Audience(lists=[t for t in targets.include if t not in segments],
                    segments=[t for t in targets.include if t in segments],
                    exclude_lists=[t for t in targets.exclude if t not in segments],
                    exclude_segments=[t for t in targets.exclude if t in segments])
