"""Archiving, the scheduler's plan, recipients' fields, idempotency keys and engagement.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("archived_at", sa.DateTime(timezone=True)))
    op.add_column("campaigns", sa.Column("planned_emails", sa.Integer))
    op.add_column("campaigns", sa.Column("next_sequence", sa.Integer))
    op.add_column("campaigns", sa.Column("next_send_times", JSONB, nullable=False,
                                         server_default=sa.text("'[]'::jsonb")))
    op.drop_index("campaigns_by_workspace", "campaigns")
    op.create_index("campaigns_by_workspace", "campaigns", ["workspace_id", "created_at", "id"])
    op.add_column("audience_members", sa.Column("fields", JSONB, nullable=False,
                                                server_default=sa.text("'{}'::jsonb")))
    op.add_column("campaign_emails", sa.Column("bounced", sa.Integer, nullable=False,
                                               server_default="0"))
    op.create_index("api_keys_by_workspace", "api_keys", ["workspace_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("response", sa.LargeBinary),
        sa.Column("media_type", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_table(
        "engagements",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
        sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("engagements_by_campaign", "engagements", ["campaign_id", "kind", "sequence"])


def downgrade() -> None:
    op.drop_table("engagements")
    op.drop_table("idempotency_keys")
    op.drop_index("api_keys_by_workspace", "api_keys")
    op.drop_column("campaign_emails", "bounced")
    op.drop_column("audience_members", "fields")
    op.drop_index("campaigns_by_workspace", "campaigns")
    op.create_index("campaigns_by_workspace", "campaigns", ["workspace_id", "created_at"])
    for column in ("next_send_times", "next_sequence", "planned_emails", "archived_at"):
        op.drop_column("campaigns", column)
