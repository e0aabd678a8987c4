"""A campaign's delivery failures found by recipient.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The audience table marks the members whose deliveries bounced or were suppressed: a
    # lookup by (campaign, recipient), which the primary key's (campaign, sequence, recipient)
    # order cannot serve.
    op.create_index("delivery_failures_by_recipient", "delivery_failures",
                    ["campaign_id", "recipient", "kind"])


def downgrade() -> None:
    op.drop_index("delivery_failures_by_recipient", "delivery_failures")
