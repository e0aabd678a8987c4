"""Who is unsubscribed in a workspace, found without reading every open and click.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The audience table marks unsubscribed members and an unsubscribe link opened again says
    # so: both look up (workspace, email) among the unsubscribes only.
    op.create_index("engagements_unsubscribed", "engagements", ["workspace_id", "email"],
                    postgresql_where="kind = 'unsubscribe'")


def downgrade() -> None:
    op.drop_index("engagements_unsubscribed", "engagements")
