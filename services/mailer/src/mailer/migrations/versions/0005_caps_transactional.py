"""The workspace's frequency cap, why a delivery was deferred, and transactional messages.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_now = sa.func.now


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("frequency_cap_day", sa.Integer),
        sa.Column("frequency_cap_week", sa.Integer),
        sa.Column("over_cap", sa.Text, nullable=False, server_default="defer"),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("over_cap IN ('defer', 'skip')", name="workspaces_over_cap"),
    )
    op.add_column("deliveries", sa.Column("deferred_reason", sa.Text))
    op.create_index("deliveries_capped", "deliveries", ["email"],
                    postgresql_where=sa.text("state IN ('sent', 'sending')"))
    op.create_table(
        "transactional_messages",
        sa.Column("message_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("from_name", sa.Text, nullable=False),
        sa.Column("from_email", sa.Text),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body_html", sa.Text, nullable=False),
        sa.Column("body_text", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("first_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("sending_since", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("smtp_code", sa.Integer),
        sa.Column("last_reply", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=_now()),
        sa.CheckConstraint("state IN ('pending', 'sending', 'sent', 'failed', 'suppressed')",
                           name="transactional_state"),
    )
    op.create_index("transactional_due", "transactional_messages", ["due_at"],
                    postgresql_where=sa.text("state IN ('pending', 'sending')"))
    op.create_index("transactional_recipient", "transactional_messages",
                    ["workspace_id", "email"])


def downgrade() -> None:
    op.drop_table("transactional_messages")
    op.drop_index("deliveries_capped", "deliveries")
    op.drop_column("deliveries", "deferred_reason")
    op.drop_table("workspaces")
