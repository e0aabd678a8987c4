"""A contact's opens, clicks and unsubscribes across campaigns, newest first, found without
reading the workspace's whole engagement history: the contact timeline's query.

Revision ID: 0014
Revises: 0012
"""

from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("engagements_by_contact", "engagements",
                    ["workspace_id", "email", "occurred_at"])


def downgrade() -> None:
    op.drop_index("engagements_by_contact", "engagements")
