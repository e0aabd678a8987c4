"""Schedules, skipped sends and the messaging tables.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from servicekit.migrations import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables(op)
    op.create_table(
        "schedules",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
        sa.Column("correlation_id", UUID(as_uuid=True), nullable=False),
        sa.Column("schedule", JSONB, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("total_emails", sa.Integer, nullable=False),
        sa.Column("next_sequence", sa.Integer, nullable=False),
        sa.Column("next_slot", sa.Integer, nullable=False),
        sa.Column("next_send_at", sa.DateTime(timezone=True)),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("schedules_due", "schedules", ["due_at"],
                    postgresql_where=sa.text("due_at IS NOT NULL"))
    op.create_table(
        "skipped_sends",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("slot", sa.Integer, primary_key=True),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("skipped_sends")
    op.drop_table("schedules")
    drop_messaging_tables(op)
