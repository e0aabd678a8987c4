"""A/B tests: each tested email's test (its metric, when it is decided, the decision) and
the variant each send was.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ab_tests",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("sequence", sa.Integer, primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("metric", sa.Text, nullable=False),
        sa.Column("variants", JSONB, nullable=False),
        sa.Column("slice_percent", sa.Float, nullable=False),
        sa.Column("decide_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("winner", sa.Text),
        sa.Column("rule", sa.Text),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("results", JSONB),
    )
    op.create_index("ab_tests_undecided", "ab_tests", ["decide_at"],
                    postgresql_where=sa.text("winner IS NULL"))
    op.add_column("sends", sa.Column("variant", sa.Text))


def downgrade() -> None:
    op.drop_column("sends", "variant")
    op.drop_index("ab_tests_undecided", "ab_tests")
    op.drop_table("ab_tests")
