"""The trace context of the campaign's creation, so the emails it schedules join its trace.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("schedules", sa.Column("trace_headers", JSONB))


def downgrade() -> None:
    op.drop_column("schedules", "trace_headers")
