"""Campaign and audience copies, suppressions, contents, deliveries and the messaging tables.

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
        "campaigns",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
        sa.Column("audience_id", UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("from_name", sa.Text, nullable=False),
        sa.Column("from_email", sa.Text),
        sa.Column("reply_to", sa.Text),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_table(
        "audience_members",
        sa.Column("audience_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.Text, primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("fields", JSONB, nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_table(
        "suppressions",
        sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.Text, primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "reason IN ('unsubscribed', 'bounced', 'complained', 'failed')",
            name="suppressions_reason",
        ),
    )
    op.create_table(
        "contents",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("sequence", sa.Integer, primary_key=True),
        sa.Column("correlation_id", UUID(as_uuid=True), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("preheader", sa.Text, nullable=False),
        sa.Column("body_html", sa.Text, nullable=False),
        sa.Column("body_text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("audience_id", UUID(as_uuid=True), nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("first_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("sending_since", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("smtp_code", sa.Integer),
        sa.Column("enhanced_code", sa.Text),
        sa.Column("last_reply", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.UniqueConstraint("campaign_id", "sequence", "email", name="deliveries_recipient"),
        sa.ForeignKeyConstraint(["campaign_id", "sequence"],
                                ["contents.campaign_id", "contents.sequence"],
                                name="deliveries_content"),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed', 'suppressed', 'cancelled')",
            name="deliveries_state",
        ),
    )
    op.create_index("deliveries_due", "deliveries", ["due_at"],
                    postgresql_where=sa.text("state = 'pending'"))
    op.create_index("deliveries_in_flight", "deliveries", ["sending_since"],
                    postgresql_where=sa.text("state = 'sending'"))


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("contents")
    op.drop_table("suppressions")
    op.drop_table("audience_members")
    op.drop_table("campaigns")
    drop_messaging_tables(op)
