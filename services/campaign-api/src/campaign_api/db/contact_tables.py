"""The workspace's contacts and what hangs off them: custom fields, lists, segments, consents,
the managed suppression list, erased addresses and the per-contact record of sends."""

from __future__ import annotations

from typing import get_args

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from campaign_api.contacts_domain import FieldType
from campaign_api.db.tables import metadata
from contracts.contacts import ContactStatus, ListedReason

_now = sa.func.now

CONTACT_STATUSES = get_args(ContactStatus)
FIELD_TYPES = get_args(FieldType)
CONSENT_SOURCES = ("form", "import", "api", "preference_centre", "campaign")
SUPPRESSION_REASONS = get_args(ListedReason)

# One per (workspace, normalised address): the address is stored as `domain.recipient`
# normalises it (lower-cased), so Bob@X.com and bob@x.com are one contact. It compares byte
# for byte (COLLATE "C"), so that the unique index also serves the address-prefix search
# (migration 0015).
contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("email", sa.Text(collation="C"), nullable=False),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    # Custom field values by key, typed as the workspace's contact_fields declare (JSON
    # numbers, booleans, ISO dates as strings, text).
    sa.Column("fields", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")),
    sa.Column("timezone", sa.Text),
    sa.Column("language", sa.Text),
    sa.Column("status", sa.Text, nullable=False, server_default="subscribed"),
    sa.Column("source", sa.Text, nullable=False, server_default="api"),
    # The preferred local hour of each weekday, Monday..Sunday (`sendtime_learning`), None
    # until enough of the contact's people's opens and clicks are known (migration 0019).
    sa.Column("send_hours", ARRAY(sa.SmallInteger)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.UniqueConstraint("workspace_id", "email", name="contacts_address"),
    sa.CheckConstraint(f"status IN {CONTACT_STATUSES}", name="contacts_status"),
    sa.CheckConstraint("send_hours IS NULL OR (cardinality(send_hours) = 7"
                       " AND 0 <= ALL(send_hours) AND 23 >= ALL(send_hours))",
                       name="contacts_send_hours"),
    sa.Index("contacts_name_prefix", "workspace_id", sa.text("lower(name) text_pattern_ops")),
    sa.Index("contacts_tags", "tags", postgresql_using="gin"),
    sa.Index("contacts_by_status", "workspace_id", "status"),
)

# The custom fields a workspace declares: segments and merge tags know them by key and type.
contact_fields = sa.Table(
    "contact_fields",
    metadata,
    sa.Column("workspace_id", UUID(as_uuid=True), sa.ForeignKey("workspaces.id"),
              primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint(f"type IN {FIELD_TYPES}", name="contact_fields_type"),
)

# Static memberships. A campaign's own list (kind 'campaign') holds the recipients typed or
# imported into that campaign; its id is the campaign's audience_id.
lists = sa.Table(
    "lists",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("kind", sa.Text, nullable=False, server_default="list"),
    sa.Column("campaign_id", UUID(as_uuid=True)),
    # Shown on the preference centre, where a contact may leave or rejoin it.
    sa.Column("public", sa.Boolean, nullable=False, server_default=sa.true()),
    # The text a sign-up form shows and a consent record keeps.
    sa.Column("consent_text", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint("kind IN ('list', 'campaign')", name="lists_kind"),
    sa.Index("lists_by_workspace", "workspace_id", "kind", "name"),
)

list_members = sa.Table(
    "list_members",
    metadata,
    sa.Column("list_id", UUID(as_uuid=True), sa.ForeignKey("lists.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("contact_id", UUID(as_uuid=True),
              sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Index("list_members_by_contact", "contact_id"),
)

# Saved rules; `segment_members` is what the mailer was last told the members are.
segments = sa.Table(
    "segments",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("rule", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("refreshed_at", sa.DateTime(timezone=True)),
    sa.Index("segments_by_workspace", "workspace_id", "name"),
)

segment_members = sa.Table(
    "segment_members",
    metadata,
    sa.Column("segment_id", UUID(as_uuid=True),
              sa.ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("contact_id", UUID(as_uuid=True),
              sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    sa.Index("segment_members_by_contact", "contact_id"),
)

# Who agreed to what, when, how: one record per contact and list (list_id NULL: the
# workspace as a whole, for an import or API call that states its basis without a list). An
# append-only log read by its contact: no foreign keys, whose per-row checks would cost an
# import as much as the records; the statements deleting a contact or a list delete their
# records (`db.consent.delete_consents`, migration 0015).
consents = sa.Table(
    "consents",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("contact_id", UUID(as_uuid=True), nullable=False),
    sa.Column("list_id", UUID(as_uuid=True)),
    sa.Column("source", sa.Text, nullable=False),
    # The lawful basis an import or API call stated ("consent", "contract", ...).
    sa.Column("basis", sa.Text, nullable=False, server_default="consent"),
    sa.Column("ip", sa.Text),
    sa.Column("user_agent", sa.Text),
    sa.Column("consent_text", sa.Text, nullable=False, server_default=""),
    sa.Column("given_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("confirmed_at", sa.DateTime(timezone=True)),
    sa.Column("withdrawn_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint(f"source IN {CONSENT_SOURCES}", name="consents_source"),
    sa.Index("consents_by_contact", "contact_id", "list_id"),
)

# The suppression list as the workspace manages it; the mailer holds its own copy, from
# suppression.* events, and checks it at send time.
suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("workspace_id", UUID(as_uuid=True), sa.ForeignKey("workspaces.id"),
              primary_key=True),
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint(f"reason IN {SUPPRESSION_REASONS}", name="suppressions_reason"),
)

# What was taken off the suppression list, and why (the address itself goes on erasure).
suppression_removals = sa.Table(
    "suppression_removals",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("was_reason", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
)

# An erased address, kept only as a keyed hash (HMAC-SHA-256 with the erasure key), so that a
# later import recognises it without the address being stored anywhere.
erased_addresses = sa.Table(
    "erased_addresses",
    metadata,
    sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("digest", sa.Text, primary_key=True),
    sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
)

# One row per email sent to an address, from email.sent: the contact timeline's sends.
sends = sa.Table(
    "sends",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    # The variant sent, of an email under an A/B test.
    sa.Column("variant", sa.Text),
    sa.Index("sends_by_contact", "workspace_id", "email", "sent_at"),
)

# The addresses with people's opens or clicks their send hours have not been learned from yet
# (migration 0019): one row per address however many, taken by the send-hours learner.
send_hours_due = sa.Table(
    "send_hours_due",
    metadata,
    sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text(collation="C"), primary_key=True),
    sa.Column("since", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Index("send_hours_due_since", "since"),
)
