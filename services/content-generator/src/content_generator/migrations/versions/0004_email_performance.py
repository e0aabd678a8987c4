"""The newest email.performance of each email: the counts the learners will read.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# contracts.EmailPerformancePayload's counts as they stand at this revision.
_COUNTS = ("delivered", "bounced", "opens", "unique_opens", "human_opens",
           "unique_human_opens", "clicks", "unique_clicks", "human_clicks",
           "unique_human_clicks", "unsubscribes")


def upgrade() -> None:
    op.create_table(
        "email_performance",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("sequence", sa.Integer, primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
        sa.Column("structure", sa.Text, nullable=False),
        *(sa.Column(name, sa.Integer, nullable=False) for name in _COUNTS),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("email_performance")
