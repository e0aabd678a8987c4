"""Journeys: each journey's graphs by version, its enrollments (one per journey, contact and
entry) with their timers, the facts their branches and goals ask about, and what was emitted.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "journeys",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
        sa.Column("correlation_id", UUID(as_uuid=True), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("trigger_type", sa.Text, nullable=False),
        sa.Column("trigger_key", sa.Text),
        sa.Column("zone", sa.Text, nullable=False),
        sa.Column("send_window", JSONB),
        sa.Column("updated_at", _TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("journeys_trigger", "journeys",
                    ["workspace_id", "trigger_type", "trigger_key"])
    op.create_table(
        "journey_versions",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("graph", JSONB, nullable=False),
    )
    op.create_table(
        "journey_contents",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("sequence", sa.Integer, primary_key=True),
        sa.Column("step_id", sa.Text, nullable=False),
        sa.Column("requested_at", _TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "enrollments",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
        sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("entry", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("step_id", sa.Text, nullable=False),
        # active: to advance now; waiting: on a timer or a fact; done: left by an exit step;
        # exited: left early (exit_reason).
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("due_at", _TZ),
        sa.Column("entered_at", _TZ, nullable=False),
        sa.Column("step_entered_at", _TZ, nullable=False),
        sa.Column("ended_at", _TZ),
        sa.Column("exit_reason", sa.Text),
        sa.UniqueConstraint("campaign_id", "email", "entry", name="enrollments_entry"),
    )
    # The timers: finding due enrollments costs what is due, not how many there are.
    op.create_index("enrollments_due", "enrollments", ["due_at"],
                    postgresql_where=sa.text("state IN ('waiting', 'active')"))
    op.create_index("enrollments_contact", "enrollments", ["workspace_id", "email"])
    op.create_table(
        "enrollment_steps",
        sa.Column("enrollment_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("step_id", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("at", _TZ, nullable=False),
    )
    op.create_table(
        "journey_contacts",
        sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.Text, primary_key=True),
        sa.Column("status", sa.Text, nullable=False, server_default="subscribed"),
        sa.Column("suppressed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("timezone", sa.Text),
        sa.Column("fields", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("tags", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("changed_at", _TZ),
    )
    op.create_table(
        "journey_memberships",
        sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.Text, primary_key=True),
        sa.Column("list_id", UUID(as_uuid=True), primary_key=True),
    )
    op.create_table(
        "journey_engagement",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.Text, primary_key=True),
        sa.Column("sequence", sa.Integer, primary_key=True),
        # The first and the latest: an entry after the first open still sees its own.
        sa.Column("opened_at", _TZ),
        sa.Column("last_opened_at", _TZ),
        sa.Column("clicked_at", _TZ),
        sa.Column("last_clicked_at", _TZ),
    )
    op.create_table(
        "journey_links",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.Text, primary_key=True),
        sa.Column("sequence", sa.Integer, primary_key=True),
        sa.Column("url", sa.Text, primary_key=True),
        sa.Column("clicked_at", _TZ, nullable=False),
        sa.Column("last_clicked_at", _TZ, nullable=False),
    )
    op.create_table(
        "journey_activity",
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("occurred_at", _TZ, nullable=False),
    )
    op.create_index("journey_activity_contact", "journey_activity", ["workspace_id", "email"])


def downgrade() -> None:
    for table in ("journey_activity", "journey_links", "journey_engagement",
                  "journey_memberships", "journey_contacts", "enrollment_steps", "enrollments",
                  "journey_contents", "journey_versions", "journeys"):
        op.drop_table(table)
