"""Delivery failures with their reason, and failed deliveries counted by kind.

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

_KINDS = ("invalid", "suppressed", "expired")


def upgrade() -> None:
    # `bounced` counted every permanent failure; from here on it counts SMTP 5xx refusals only,
    # and the other kinds have their own counters (earlier counts are left as they were).
    for kind in _KINDS:
        op.add_column("campaign_emails", sa.Column(kind, sa.Integer, nullable=False,
                                                   server_default="0"))
    op.create_table(
        "delivery_failures",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("sequence", sa.Integer, primary_key=True),
        sa.Column("recipient", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("smtp_code", sa.Integer),
        sa.Column("enhanced_code", sa.Text),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('bounced', 'invalid', 'suppressed', 'expired')",
                           name="delivery_failures_kind"),
    )
    # The newest failures of a campaign first: what the API and the campaign page list.
    op.create_index("delivery_failures_newest", "delivery_failures",
                    ["campaign_id", sa.text("failed_at DESC"), "sequence", "recipient"])


def downgrade() -> None:
    op.drop_index("delivery_failures_newest", "delivery_failures")
    op.drop_table("delivery_failures")
    for kind in _KINDS:
        op.drop_column("campaign_emails", kind)
