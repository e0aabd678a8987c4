"""Why each email was written with its structure, as content.generated said (the structure
bandit's rule, arm, and every arm's posterior and draw): shown in the report.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # contracts.StructureChoice as JSON; NULL for emails written before, or without one.
    op.add_column("campaign_emails", sa.Column("structure_choice", JSONB))


def downgrade() -> None:
    op.drop_column("campaign_emails", "structure_choice")
