"""Journeys' progress summaries: what the last journey.progress of each journey said, and when
the journey is looked at next (at most once per summary interval).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "journey_progress",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("counts", JSONB),
        sa.Column("as_of", _TZ),
        sa.Column("next_at", _TZ),
    )
    op.create_index("journey_progress_next", "journey_progress", ["next_at"],
                    postgresql_where=sa.text("next_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_table("journey_progress")
