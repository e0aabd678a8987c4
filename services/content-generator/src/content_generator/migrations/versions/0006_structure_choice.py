"""Each email's send time, which bounds the engagement that counts as its reward, and why its
structure was chosen (the bandit's rule, arm, posteriors and draws).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL on emails written before: their summaries are kept newest, with no window.
    op.add_column("generated_emails", sa.Column("send_at", sa.DateTime(timezone=True)))
    # contracts.StructureChoice as JSON; NULL on emails written before the bandit.
    op.add_column("generated_emails", sa.Column("structure_choice", JSONB))


def downgrade() -> None:
    op.drop_column("generated_emails", "structure_choice")
    op.drop_column("generated_emails", "send_at")
