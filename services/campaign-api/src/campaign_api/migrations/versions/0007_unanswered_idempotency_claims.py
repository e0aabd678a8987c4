"""Idempotency keys claimed and never answered are freed.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Before this revision a claim was committed on its own, before its answer; one whose
    # request died with the API or its database stayed "still being processed" for ever. A
    # claim is now committed only with its answer, so such rows can only be those leftovers.
    op.execute("DELETE FROM idempotency_keys WHERE status_code IS NULL")


def downgrade() -> None:
    pass  # the rows removed were unanswered claims: nothing to put back
