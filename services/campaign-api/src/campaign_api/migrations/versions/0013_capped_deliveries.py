"""Deliveries skipped over the workspace's frequency cap: a failure kind of their own, counted
per email like the other kinds.

Revision ID: 0013
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0009"
branch_labels = None
depends_on = None

_KINDS_BEFORE = "kind IN ('bounced', 'invalid', 'suppressed', 'expired')"
_KINDS = "kind IN ('bounced', 'invalid', 'suppressed', 'expired', 'capped')"


def upgrade() -> None:
    op.add_column("campaign_emails", sa.Column("capped", sa.Integer, nullable=False,
                                               server_default="0"))
    op.drop_constraint("delivery_failures_kind", "delivery_failures", type_="check")
    op.create_check_constraint("delivery_failures_kind", "delivery_failures", _KINDS)


def downgrade() -> None:
    op.execute("DELETE FROM delivery_failures WHERE kind = 'capped'")
    op.drop_constraint("delivery_failures_kind", "delivery_failures", type_="check")
    op.create_check_constraint("delivery_failures_kind", "delivery_failures", _KINDS_BEFORE)
    op.drop_column("campaign_emails", "capped")
