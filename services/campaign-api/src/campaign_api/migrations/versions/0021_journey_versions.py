"""Journeys: every saved version of a journey's graph, kept; the campaign's definition holds
the newest.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journey_versions",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
        sa.Column("graph", JSONB, nullable=False),
        sa.Column("highest_sequence", sa.Integer, nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("journey_versions")
