"""Workspaces, API keys, campaigns, audiences, read models and the messaging tables.

Revision ID: 0001
Revises:
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from servicekit.migrations import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _created() -> sa.Column[datetime]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                     server_default=sa.func.now())


def upgrade() -> None:
    create_messaging_tables(op)
    op.create_table(
        "workspaces",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        _created(),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True), sa.ForeignKey("workspaces.id"),
                  nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        _created(),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True), sa.ForeignKey("workspaces.id"),
                  nullable=False),
        sa.Column("audience_id", UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("definition", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("emails_generated", sa.Integer, nullable=False, server_default="0"),
        sa.Column("emails_failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("deliveries_sent", sa.Integer, nullable=False, server_default="0"),
        sa.Column("deliveries_failed", sa.Integer, nullable=False, server_default="0"),
        _created(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("campaigns_by_workspace", "campaigns", ["workspace_id", "created_at"])
    op.create_table(
        "audience_members",
        sa.Column("audience_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.Text, primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_table(
        "campaign_emails",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("sequence", sa.Integer, primary_key=True),
        sa.Column("subject", sa.Text),
        sa.Column("model", sa.Text),
        sa.Column("structure", sa.Text),
        sa.Column("send_at", sa.DateTime(timezone=True)),
        sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cost", sa.Numeric(14, 8), nullable=False, server_default="0"),
        sa.Column("failure", sa.Text),
        sa.Column("sent", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    for table in ("campaign_emails", "audience_members", "campaigns", "api_keys", "workspaces"):
        op.drop_table(table)
    drop_messaging_tables(op)
