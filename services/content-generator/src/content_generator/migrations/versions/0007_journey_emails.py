"""A journey's email steps, kept with its brief: each step's goal, subject hint and place in
the journey by content number, what its email is written from. Steps of earlier versions
are kept as a new version arrives, a step that is still to be written may be one of them.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # {"<sequence>": content_generator.journey.JourneyEmail as JSON}; NULL: a campaign.
    op.add_column("campaigns", sa.Column("journey_emails", JSONB))


def downgrade() -> None:
    op.drop_column("campaigns", "journey_emails")
