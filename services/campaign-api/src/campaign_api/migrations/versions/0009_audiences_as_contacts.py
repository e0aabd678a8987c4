"""Campaign audiences become contacts on lists: every campaign gets its own list (kind
'campaign', id = its audience_id), every audience member becomes the workspace's contact (one
per address; an address that unsubscribed from the workspace is an unsubscribed contact, and on
the suppression list), its merge fields declared as text fields; audience_members goes. The
engagements get an index by address, for a contact's timeline.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        INSERT INTO lists (id, workspace_id, name, kind, campaign_id, public)
        SELECT audience_id, workspace_id, name, 'campaign', id, false FROM campaigns
        ON CONFLICT (id) DO NOTHING
    """)
    op.execute("""
        INSERT INTO contact_fields (workspace_id, key, label, type)
        SELECT DISTINCT m.workspace_id, k.key, k.key, 'text'
        FROM audience_members m, jsonb_object_keys(m.fields) AS k(key)
        ON CONFLICT DO NOTHING
    """)
    # Of an address on several audiences, the newest membership gives the name and fields.
    op.execute("""
        INSERT INTO contacts (id, workspace_id, email, name, fields, status, source,
                              created_at, updated_at)
        SELECT gen_random_uuid(), m.workspace_id, m.email, m.name, m.fields,
               CASE WHEN EXISTS (SELECT 1 FROM engagements e
                                 WHERE e.workspace_id = m.workspace_id AND e.email = m.email
                                   AND e.kind = 'unsubscribe')
                    THEN 'unsubscribed' ELSE 'subscribed' END,
               'campaign', m.first_added, now()
        FROM (SELECT DISTINCT ON (workspace_id, email) workspace_id, email, name, fields,
                     min(added_at) OVER (PARTITION BY workspace_id, email) AS first_added
              FROM audience_members ORDER BY workspace_id, email, added_at DESC) AS m
        ON CONFLICT (workspace_id, email) DO NOTHING
    """)
    op.execute("""
        INSERT INTO suppressions (workspace_id, email, reason)
        SELECT workspace_id, email, 'unsubscribed' FROM contacts WHERE status = 'unsubscribed'
        ON CONFLICT DO NOTHING
    """)
    op.execute("""
        INSERT INTO list_members (list_id, contact_id, added_at)
        SELECT m.audience_id, c.id, m.added_at
        FROM audience_members m
        JOIN contacts c ON c.workspace_id = m.workspace_id AND c.email = m.email
        JOIN lists l ON l.id = m.audience_id
        ON CONFLICT DO NOTHING
    """)
    op.drop_table("audience_members")
    # A contact's timeline reads its opens, clicks and unsubscribes by address.
    op.create_index("engagements_by_address", "engagements",
                    ["workspace_id", "email", "occurred_at"])


def downgrade() -> None:
    op.drop_index("engagements_by_address", table_name="engagements")
    op.create_table(
        "audience_members",
        sa.Column("audience_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.Text, primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("fields", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    # Field values back as the text merge fields were.
    op.execute("""
        INSERT INTO audience_members (audience_id, email, workspace_id, name, fields, added_at)
        SELECT l.id, c.email, c.workspace_id, c.name,
               COALESCE((SELECT jsonb_object_agg(f.key, f.value #>> '{}')
                         FROM jsonb_each(c.fields) AS f), '{}'::jsonb),
               m.added_at
        FROM list_members m JOIN lists l ON l.id = m.list_id AND l.kind = 'campaign'
        JOIN contacts c ON c.id = m.contact_id
    """)
    op.execute("DELETE FROM lists WHERE kind = 'campaign'")
