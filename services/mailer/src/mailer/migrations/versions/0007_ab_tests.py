"""A/B tests: an email's variants, its test (slices, winner), and the variant each delivery
is sent; `held`, the state of a delivery waiting for the winner.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_STATES = "state IN ('pending', 'sending', 'sent', 'failed', 'suppressed', 'cancelled')"
_WITH_HELD = "state IN ('pending', 'held', 'sending', 'sent', 'failed', 'suppressed', 'cancelled')"


def upgrade() -> None:
    op.create_table(
        "ab_tests",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("sequence", sa.Integer, primary_key=True),
        sa.Column("variants", sa.SmallInteger, nullable=False),
        sa.Column("slice_buckets", sa.Integer, nullable=False),
        sa.Column("winner", sa.Text),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(["campaign_id", "sequence"],
                                ["contents.campaign_id", "contents.sequence"],
                                name="ab_tests_content"),
    )
    op.create_table(
        "ab_variants",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("sequence", sa.Integer, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("preheader", sa.Text, nullable=False),
        sa.Column("body_html", sa.Text, nullable=False),
        sa.Column("body_text", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(["campaign_id", "sequence"],
                                ["ab_tests.campaign_id", "ab_tests.sequence"],
                                name="ab_variants_test"),
    )
    op.add_column("deliveries", sa.Column("variant", sa.Text))
    op.drop_constraint("deliveries_state", "deliveries", type_="check")
    op.create_check_constraint("deliveries_state", "deliveries", _WITH_HELD)
    op.create_index("deliveries_held", "deliveries", ["campaign_id", "sequence"],
                    postgresql_where=sa.text("state = 'held'"))


def downgrade() -> None:
    op.drop_index("deliveries_held", "deliveries")
    op.execute("UPDATE deliveries SET state = 'cancelled' WHERE state = 'held'")
    op.drop_constraint("deliveries_state", "deliveries", type_="check")
    op.create_check_constraint("deliveries_state", "deliveries", _STATES)
    op.drop_column("deliveries", "variant")
    op.drop_table("ab_variants")
    op.drop_table("ab_tests")
