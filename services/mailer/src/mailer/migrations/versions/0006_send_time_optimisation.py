"""Send-time optimisation: each contact's preferred hour of each weekday as campaign-api
learned it, and whether a campaign sends at those hours.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contacts", sa.Column("send_hours", ARRAY(sa.SmallInteger)))
    op.add_column("campaigns", sa.Column("send_time_optimization", sa.Boolean, nullable=False,
                                         server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("campaigns", "send_time_optimization")
    op.drop_column("contacts", "send_hours")
