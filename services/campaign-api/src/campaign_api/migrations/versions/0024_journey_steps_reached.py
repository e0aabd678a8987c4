"""Each journey step a contact reached (journey.step_due and journey.action from the
scheduler), for their profile's journey history; gone with the contact.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journey_steps_reached",
        sa.Column("enrollment_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("step_id", sa.Text, primary_key=True),
        sa.Column("contact_id", UUID(as_uuid=True),
                  sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("sequence", sa.Integer),
        sa.Column("detail", sa.Text),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("journey_steps_reached_contact", "journey_steps_reached",
                    ["contact_id", "at"])


def downgrade() -> None:
    op.drop_table("journey_steps_reached")
