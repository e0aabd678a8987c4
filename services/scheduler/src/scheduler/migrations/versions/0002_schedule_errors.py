"""A reason for schedules moved aside because their stored rule cannot be read.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("schedules", sa.Column("error", sa.Text))


def downgrade() -> None:
    op.drop_column("schedules", "error")
