"""A campaign's A/B test setting, so that a tested email is written in its variants.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # contracts.AbTest as JSON; null: the campaign tests nothing.
    op.add_column("campaigns", sa.Column("ab_test", JSONB))


def downgrade() -> None:
    op.drop_column("campaigns", "ab_test")
