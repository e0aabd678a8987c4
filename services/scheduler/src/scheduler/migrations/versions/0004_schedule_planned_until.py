"""How far the published plan reaches, so the tick republishes it only when it runs short.

Existing schedules start at -1 (nothing known to be published): each gets a fresh plan with
its next email.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("schedules", sa.Column("planned_until", sa.Integer, nullable=False,
                                         server_default=sa.text("-1")))


def downgrade() -> None:
    op.drop_column("schedules", "planned_until")
