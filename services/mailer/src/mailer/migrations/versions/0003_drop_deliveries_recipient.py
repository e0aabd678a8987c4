"""Drop the unique index on (campaign, sequence, recipient): the primary key is the md5 of the
same three, so it is unique already, and the index cost an insert on every state change.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("deliveries_recipient", "deliveries", type_="unique")


def downgrade() -> None:
    op.create_unique_constraint("deliveries_recipient", "deliveries",
                                ["campaign_id", "sequence", "email"])
