"""Journeys: each saved version of a journey's graph (the campaign's definition holds the
newest), kept so that what contacts already in the journey follow can still be read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.tables import AnyRow, campaigns, metadata

journey_versions = sa.Table(
    "journey_versions",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("graph", JSONB, nullable=False),
    # The highest email step number of this version: the next new step is numbered above
    # the highest of all versions.
    sa.Column("highest_sequence", sa.Integer, nullable=False),
    sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
)

# The scheduler's newest journey.progress per journey: counts per step (waiting now, entered,
# exited by reason), as the event carries them.
journey_progress = sa.Table(
    "journey_progress",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("steps", JSONB, nullable=False),
    sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
)

# Each step a contact reached in a journey: an email falling due (`sequence`, `at` its send
# time) or an action carried out; one row per (enrollment, step), so a redelivery adds none.
journey_steps_reached = sa.Table(
    "journey_steps_reached",
    metadata,
    sa.Column("enrollment_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("step_id", sa.Text, primary_key=True),
    sa.Column("contact_id", UUID(as_uuid=True), sa.ForeignKey("contacts.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("sequence", sa.Integer),
    sa.Column("detail", sa.Text),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("journey_steps_reached_contact", "contact_id", "at"),
)


async def record_step_reached(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(insert(journey_steps_reached).values(**values).on_conflict_do_nothing())


async def steps_reached_by(conn: AsyncConnection, contact_id: uuid.UUID, *,
                           limit: int) -> list[AnyRow]:
    """The contact's newest `limit` steps reached, newest first, with their journey's name."""
    r = journey_steps_reached.c
    return list((await conn.execute(
        sa.select(r.campaign_id, campaigns.c.name.label("journey"), r.enrollment_id,
                  r.step_id, r.kind, r.sequence, r.detail, r.at)
        .join(campaigns, campaigns.c.id == r.campaign_id)
        .where(r.contact_id == contact_id)
        .order_by(r.at.desc(), r.step_id).limit(limit))).all())


async def keep_journey_progress(conn: AsyncConnection, *, campaign_id: uuid.UUID,
                                workspace_id: uuid.UUID, version: int,
                                steps: list[dict[str, Any]], as_of: datetime) -> bool:
    """The summary kept unless a newer one already is (summaries may arrive out of order);
    whether it was."""
    stmt = insert(journey_progress).values(campaign_id=campaign_id, workspace_id=workspace_id,
                                           version=version, steps=steps, as_of=as_of)
    result = await conn.execute(stmt.on_conflict_do_update(
        index_elements=[journey_progress.c.campaign_id],
        set_={"version": stmt.excluded.version, "steps": stmt.excluded.steps,
              "as_of": stmt.excluded.as_of},
        where=journey_progress.c.as_of < stmt.excluded.as_of))
    return bool(result.rowcount)


async def journey_progress_of(conn: AsyncConnection, workspace_id: uuid.UUID,
                              campaign_id: uuid.UUID) -> AnyRow | None:
    return (await conn.execute(sa.select(journey_progress).where(
        journey_progress.c.campaign_id == campaign_id,
        journey_progress.c.workspace_id == workspace_id))).first()


async def insert_journey_version(conn: AsyncConnection, *, campaign_id: uuid.UUID,
                                 workspace_id: uuid.UUID, version: int, graph: dict[str, Any],
                                 highest_sequence: int) -> None:
    await conn.execute(journey_versions.insert().values(
        campaign_id=campaign_id, workspace_id=workspace_id, version=version, graph=graph,
        highest_sequence=highest_sequence))


async def highest_journey_sequence(conn: AsyncConnection, campaign_id: uuid.UUID) -> int:
    """The highest email step number any version of the journey gave (0 for none)."""
    found = await conn.scalar(
        sa.select(sa.func.coalesce(sa.func.max(journey_versions.c.highest_sequence), 0))
        .where(journey_versions.c.campaign_id == campaign_id))
    return int(found or 0)


async def journey_versions_of(conn: AsyncConnection, workspace_id: uuid.UUID,
                              campaign_id: uuid.UUID) -> list[AnyRow]:
    return list((await conn.execute(
        sa.select(journey_versions.c.version, journey_versions.c.graph,
                  journey_versions.c.saved_at)
        .where(journey_versions.c.campaign_id == campaign_id,
               journey_versions.c.workspace_id == workspace_id)
        .order_by(journey_versions.c.version))).all())
