"""Contacts once per workspace and list memberships instead of a copy of every audience; the
campaign's targets and schedule; dispatches, which decide an email's recipients at its send
time. The old audience rows become contacts (the newest name and fields per address) and the
memberships of the list whose id is the audience's.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_STATUSES = "status IN ('subscribed', 'unsubscribed', 'bounced', 'complained', 'pending')"
_REASONS_BEFORE = "reason IN ('unsubscribed', 'bounced', 'complained', 'failed')"
# A suppression.added may say why: a person's (manual) or an erasure's.
_REASONS = (
    "reason IN ('unsubscribed', 'bounced', 'complained', 'failed', 'manual', 'erased')")


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("fields", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("timezone", sa.Text),
        sa.Column("language", sa.Text),
        sa.Column("status", sa.Text, nullable=False, server_default="subscribed"),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_STATUSES, name="contacts_status"),
    )
    op.create_index("contacts_zone", "contacts", ["timezone", "workspace_id"])
    op.create_table(
        "memberships",
        sa.Column("list_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.Text, primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    )
    op.create_index("memberships_contact", "memberships", ["workspace_id", "email"])
    op.execute("""
        INSERT INTO contacts (workspace_id, email, name, fields, status, changed_at)
        SELECT DISTINCT ON (workspace_id, email) workspace_id, email, name, fields,
               'subscribed', updated_at
        FROM audience_members
        ORDER BY workspace_id, email, updated_at DESC
    """)
    op.execute("""
        INSERT INTO memberships (list_id, email, workspace_id)
        SELECT audience_id, email, workspace_id FROM audience_members WHERE removed_at IS NULL
    """)
    op.drop_table("audience_members")

    op.add_column("campaigns", sa.Column("target_include", ARRAY(UUID(as_uuid=True)),
                                         nullable=False, server_default="{}"))
    op.add_column("campaigns", sa.Column("target_exclude", ARRAY(UUID(as_uuid=True)),
                                         nullable=False, server_default="{}"))
    op.add_column("campaigns", sa.Column("timezone", sa.Text, nullable=False,
                                         server_default="UTC"))
    op.add_column("campaigns", sa.Column("send_time", sa.Time, nullable=False,
                                         server_default="09:00"))
    op.add_column("campaigns", sa.Column("per_contact_time", sa.Boolean, nullable=False,
                                         server_default=sa.false()))
    op.add_column("campaigns", sa.Column("send_window", JSONB))

    op.create_table(
        "dispatches",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("sequence", sa.Integer, primary_key=True),
        sa.Column("due_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("zones", ARRAY(sa.Text)),
        sa.Column("done_at", sa.DateTime(timezone=True)),
        sa.Column("deliveries", sa.Integer),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.ForeignKeyConstraint(["campaign_id", "sequence"],
                                ["contents.campaign_id", "contents.sequence"],
                                name="dispatches_content"),
    )
    op.create_index("dispatches_due", "dispatches", ["due_at"],
                    postgresql_where=sa.text("done_at IS NULL"))

    op.drop_constraint("suppressions_reason", "suppressions", type_="check")
    op.create_check_constraint("suppressions_reason", "suppressions", _REASONS)


def downgrade() -> None:
    op.execute("DELETE FROM suppressions WHERE reason IN ('manual', 'erased')")
    op.drop_constraint("suppressions_reason", "suppressions", type_="check")
    op.create_check_constraint("suppressions_reason", "suppressions", _REASONS_BEFORE)
    op.drop_table("dispatches")
    for column in ("send_window", "per_contact_time", "send_time", "timezone",
                   "target_exclude", "target_include"):
        op.drop_column("campaigns", column)
    op.create_table(
        "audience_members",
        sa.Column("audience_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.Text, primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("fields", JSONB, nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.execute("""
        INSERT INTO audience_members (audience_id, email, workspace_id, name, fields, updated_at)
        SELECT m.list_id, m.email, m.workspace_id, c.name, c.fields, c.changed_at
        FROM memberships m JOIN contacts c USING (workspace_id, email)
    """)
    op.drop_table("memberships")
    op.drop_table("contacts")
