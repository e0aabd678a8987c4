"""Skipped sends are keyed by their send time, not their slot number: an updated rule numbers
its slots from 0 again, and a skip under it must not be lost as a duplicate of an earlier one.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("skipped_sends_pkey", "skipped_sends", type_="primary")
    op.create_primary_key("skipped_sends_pkey", "skipped_sends", ["campaign_id", "send_at"])


def downgrade() -> None:
    # Of two skips sharing a slot number, the later one goes: the old key cannot hold both.
    op.execute("""
        DELETE FROM skipped_sends AS later USING skipped_sends AS earlier
        WHERE later.campaign_id = earlier.campaign_id AND later.slot = earlier.slot
          AND later.send_at > earlier.send_at
    """)
    op.drop_constraint("skipped_sends_pkey", "skipped_sends", type_="primary")
    op.create_primary_key("skipped_sends_pkey", "skipped_sends", ["campaign_id", "slot"])
