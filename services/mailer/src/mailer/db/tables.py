"""The mailer's tables, as the migrations build them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

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
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now(), onupdate=sa.func.now()),
)

# The mailer's copy of every audience; a removed member keeps its row, marked removed.
audience_members = sa.Table(
    "audience_members",
    metadata,
    sa.Column("audience_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("fields", JSONB, nullable=False),
    sa.Column("removed_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now(), onupdate=sa.func.now()),
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
    sa.CheckConstraint("reason IN ('unsubscribed', 'bounced', 'complained', 'failed')",
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
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now(), onupdate=sa.func.now()),
    sa.ForeignKeyConstraint(["campaign_id", "sequence"],
                            ["contents.campaign_id", "contents.sequence"],
                            name="deliveries_content"),
    sa.CheckConstraint(
        "state IN ('pending', 'sending', 'sent', 'failed', 'suppressed', 'cancelled')",
        name="deliveries_state",
    ),
    # Finding due work costs what is due, not how much was ever sent.
    sa.Index("deliveries_due", "due_at", postgresql_where=sa.text("state = 'pending'")),
    sa.Index("deliveries_in_flight", "sending_since",
             postgresql_where=sa.text("state = 'sending'")),
)
