"""The mailer's tables, as the migrations build them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = sa.MetaData()

# The mailer's copy of each campaign: what it needs to address and route mail.
campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("audience_id", UUID(as_uuid=True), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("from_name", sa.Text, nullable=False),
    sa.Column("from_email", sa.Text),
    sa.Column("reply_to", sa.Text),
    # active | paused | cancelled | completed
    sa.Column("state", sa.Text, nullable=False),
    # Lists and segments mailed besides `audience_id`, and those whose members are not.
    sa.Column("target_include", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"),
    sa.Column("target_exclude", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"),
    # The schedule's part that decides each contact's due time.
    sa.Column("timezone", sa.Text, nullable=False, server_default="UTC"),
    sa.Column("send_time", sa.Time, nullable=False, server_default="09:00"),
    sa.Column("per_contact_time", sa.Boolean, nullable=False, server_default=sa.false()),
    # Each contact at their own `contacts.send_hours` (migration 0006).
    sa.Column("send_time_optimization", sa.Boolean, nullable=False, server_default=sa.false()),
    # {"start": "09:00:00", "end": "17:00:00", "weekdays": [1, ...]} or None: any time.
    sa.Column("send_window", JSONB),
    # campaign | journey (migration 0008): a journey's emails go to one contact at a time,
    # on journey.step_due, never to its lists.
    sa.Column("kind", sa.Text, nullable=False, server_default="campaign"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now(), onupdate=sa.func.now()),
    sa.CheckConstraint("kind IN ('campaign', 'journey')", name="campaigns_kind"),
)

# Each contact once per workspace, with what sending needs; campaign-api owns them and sends
# their full state (`contacts.changed`), the newest `changed_at` winning.
contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("fields", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    # An IANA zone this machine knows, or None: the campaign's zone is theirs.
    sa.Column("timezone", sa.Text),
    sa.Column("language", sa.Text),
    # Only `subscribed` contacts are mailed.
    sa.Column("status", sa.Text, nullable=False, server_default="subscribed"),
    # The preferred local hour of each weekday, Monday..Sunday, as campaign-api learned it
    # (send-time optimisation, migration 0006); None: not known, the send time is theirs.
    sa.Column("send_hours", ARRAY(sa.SmallInteger)),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint(
        "status IN ('subscribed', 'unsubscribed', 'bounced', 'complained', 'pending')",
        name="contacts_status"),
    # Whether anyone of a workspace is in a zone costs an index probe (`anyone_in`). The zone
    # first: led by the workspace, the planner took it over the primary key to find a contact.
    sa.Index("contacts_zone", "timezone", "workspace_id"),
)

# Who is on which list or segment (a segment's id is a list id here): one row per member,
# however many campaigns target the list. A removed member's row is deleted.
memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("list_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    # A contact's lists, for deleting a contact.
    sa.Index("memberships_contact", "workspace_id", "email"),
)

# Per workspace; addresses are stored lower-cased and matched case-insensitively, because a
# mailbox that unsubscribed as Bob@x.com must not get mail as bob@x.com.
suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint(
        "reason IN ('unsubscribed', 'bounced', 'complained', 'failed', 'manual', 'erased')",
        name="suppressions_reason"),
)

# The k-th email of a campaign, stored once however many recipients it has.
contents = sa.Table(
    "contents",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("correlation_id", UUID(as_uuid=True), nullable=False),
    sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("preheader", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    # The trace context of content.generated: the SMTP sends join the email's trace.
    sa.Column("trace_headers", JSONB),
)

# When an email's recipients are decided: one row per (campaign, sequence) and, with per-contact
# time, one per instant at which the send time comes in some zones (`zones`; None: everyone).
# At `due_at` the dispatcher creates the deliveries of the members of that moment.
dispatches = sa.Table(
    "dispatches",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("due_at", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("zones", ARRAY(sa.Text)),
    sa.Column("done_at", sa.DateTime(timezone=True)),
    sa.Column("deliveries", sa.Integer),  # how many it created
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    sa.ForeignKeyConstraint(["campaign_id", "sequence"],
                            ["contents.campaign_id", "contents.sequence"],
                            name="dispatches_content"),
    sa.Index("dispatches_due", "due_at", postgresql_where=sa.text("done_at IS NULL")),
)

# One row per (campaign, sequence, recipient), whose id is derived from the three (see
# `create_deliveries`); see mailer.domain for the state machine.
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("audience_id", UUID(as_uuid=True), nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    # Claims so far; also the fencing token an outcome must match to be recorded.
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_attempt_at", sa.DateTime(timezone=True)),
    # When the claim was made or its holder's heartbeat last renewed it: a `sending` row
    # older than the lease has no live holder and is claimed again.
    sa.Column("sending_since", sa.DateTime(timezone=True)),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("smtp_code", sa.Integer),
    sa.Column("enhanced_code", sa.Text),
    # The last SMTP reply, or why the delivery was not sent.
    sa.Column("last_reply", sa.Text),
    # Why its due time was moved by the mailer's policy (the frequency cap), if it was.
    sa.Column("deferred_reason", sa.Text),
    # The variant it is sent, of an email under an A/B test (see `ab_tests`).
    sa.Column("variant", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now(), onupdate=sa.func.now()),
    sa.ForeignKeyConstraint(["campaign_id", "sequence"],
                            ["contents.campaign_id", "contents.sequence"],
                            name="deliveries_content"),
    sa.CheckConstraint(
        "state IN ('pending', 'held', 'sending', 'sent', 'failed', 'suppressed', 'cancelled')",
        name="deliveries_state",
    ),
    # Finding due work costs what is due, not how much was ever sent.
    sa.Index("deliveries_due", "due_at", postgresql_where=sa.text("state = 'pending'")),
    sa.Index("deliveries_in_flight", "sending_since",
             postgresql_where=sa.text("state = 'sending'")),
    # The recipients of a tested email waiting for its winner.
    sa.Index("deliveries_held", "campaign_id", "sequence",
             postgresql_where=sa.text("state = 'held'")),
    # A contact's campaign emails sent or in flight, which the frequency cap counts; empty
    # while deliveries wait, so creating a million of them costs nothing here.
    sa.Index("deliveries_capped", "email",
             postgresql_where=sa.text("state IN ('sent', 'sending')")),
)

# The workspace settings the mailer acts on (workspace.updated), the newest `changed_at` wins.
workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
    # At most this many campaign emails per contact in any rolling 24 hours / 7 days (None: no
    # cap); transactional mail is not counted.
    sa.Column("frequency_cap_day", sa.Integer),
    sa.Column("frequency_cap_week", sa.Integer),
    # Over the cap a delivery waits until it fits (defer) or is not sent (skip).
    sa.Column("over_cap", sa.Text, nullable=False, server_default="defer"),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("over_cap IN ('defer', 'skip')", name="workspaces_over_cap"),
)

# Messages sent at once outside any campaign (transactional.requested), one per message_id:
# not tracked, not counted by the frequency cap; states as a delivery's, without `cancelled`.
transactional_messages = sa.Table(
    "transactional_messages",
    metadata,
    sa.Column("message_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("from_name", sa.Text, nullable=False),
    sa.Column("from_email", sa.Text),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_attempt_at", sa.DateTime(timezone=True)),
    sa.Column("sending_since", sa.DateTime(timezone=True)),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("smtp_code", sa.Integer),
    sa.Column("last_reply", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    sa.CheckConstraint("state IN ('pending', 'sending', 'sent', 'failed', 'suppressed')",
                       name="transactional_state"),
    sa.Index("transactional_due", "due_at",
             postgresql_where=sa.text("state IN ('pending', 'sending')")),
    # An erased person's messages, found without a pass over all of them.
    sa.Index("transactional_recipient", "workspace_id", "email"),
)

# An email under an A/B test: each variant's slice (in buckets of contracts.ab_tests.BUCKETS)
# and, once decided, the winner the held recipients are sent.
ab_tests = sa.Table(
    "ab_tests",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("variants", sa.SmallInteger, nullable=False),
    sa.Column("slice_buckets", sa.Integer, nullable=False),
    sa.Column("winner", sa.Text),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.ForeignKeyConstraint(["campaign_id", "sequence"],
                            ["contents.campaign_id", "contents.sequence"],
                            name="ab_tests_content"),
)

# The variants of a tested email; empty bodies: the email's own (a subject test).
ab_variants = sa.Table(
    "ab_variants",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("preheader", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.ForeignKeyConstraint(["campaign_id", "sequence"],
                            ["ab_tests.campaign_id", "ab_tests.sequence"],
                            name="ab_variants_test"),
)
