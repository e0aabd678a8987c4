"""Send-time optimisation: each contact's preferred local hour of each weekday, learned from
their people's opens and clicks (`sendtime_learning`), and the contacts with engagement not yet
learned from. Contacts engaged with before this migration are all due once.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contacts", sa.Column("send_hours", ARRAY(sa.SmallInteger)))
    op.create_check_constraint(
        "contacts_send_hours", "contacts",
        "send_hours IS NULL OR (cardinality(send_hours) = 7"
        " AND 0 <= ALL(send_hours) AND 23 >= ALL(send_hours))")
    op.create_table(
        "send_hours_due",
        sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.Text(collation="C"), primary_key=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("send_hours_due_since", "send_hours_due", ["since"])
    op.execute("""
        INSERT INTO send_hours_due (workspace_id, email)
        SELECT DISTINCT workspace_id, email FROM engagements
        WHERE human IS TRUE AND kind IN ('open', 'click')
    """)


def downgrade() -> None:
    op.drop_table("send_hours_due")
    op.drop_constraint("contacts_send_hours", "contacts")
    op.drop_column("contacts", "send_hours")
