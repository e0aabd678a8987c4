"""Journeys: the mailer's copy of a campaign says whether it is a journey, whose emails go to
one contact at a time (journey.step_due) rather than to its lists at a send time.

A journey step's delivery has an id derived from (enrollment, step), a campaign email's from
(campaign, sequence, address): the primary key keeps both exactly once, and a contact who
enters a journey again gets the step's email again under a new id.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("kind", sa.Text, nullable=False,
                                         server_default="campaign"))
    op.create_check_constraint("campaigns_kind", "campaigns", "kind IN ('campaign', 'journey')")


def downgrade() -> None:
    op.drop_constraint("campaigns_kind", "campaigns", type_="check")
    op.drop_column("campaigns", "kind")
