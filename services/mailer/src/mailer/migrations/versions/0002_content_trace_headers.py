"""The trace context of content.generated, so each SMTP send joins its email's trace.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contents", sa.Column("trace_headers", JSONB))


def downgrade() -> None:
    op.drop_column("contents", "trace_headers")
