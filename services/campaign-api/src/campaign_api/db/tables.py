"""campaign-api's tables (workspaces, keys, campaigns, audiences, read models)."""

from __future__ import annotations

from typing import Any, get_args

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from campaign_api.engagement_rules import MachineReason
from campaign_api.performance import ENGAGEMENT_COUNTERS

AnyRow = sa.Row[*tuple[Any, ...]]

metadata = sa.MetaData()

_now = sa.func.now

workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    # The settings workspace.updated carries (contracts' WorkspaceSettingsPayload): the
    # frequency cap (migration 0008; NULL: no cap) and the LLM budget (0012; NULL: no limit).
    sa.Column("frequency_cap_day", sa.Integer),
    sa.Column("frequency_cap_week", sa.Integer),
    sa.Column("over_cap", sa.Text, nullable=False, server_default="defer"),
    sa.Column("monthly_llm_budget", sa.Numeric(18, 10)),
    sa.CheckConstraint("over_cap IN ('defer', 'skip')", name="workspaces_over_cap"),
    sa.CheckConstraint("monthly_llm_budget >= 0", name="workspaces_budget"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("key_hash", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)

# A signed-in dashboard visitor: the cookie names the row, so deleting it signs them out.
dashboard_sessions = sa.Table(
    "dashboard_sessions",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("api_key_id", UUID(as_uuid=True), sa.ForeignKey("api_keys.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("audience_id", UUID(as_uuid=True), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    # The campaign.created payload as sent: the one source for detail views.
    sa.Column("definition", JSONB, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("emails_generated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("emails_failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("deliveries_sent", sa.Integer, nullable=False, server_default="0"),
    sa.Column("deliveries_failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("archived_at", sa.DateTime(timezone=True)),
    # The scheduler's plan, from campaign.scheduled.
    sa.Column("planned_emails", sa.Integer),
    sa.Column("next_sequence", sa.Integer),
    sa.Column("next_send_times", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Index("campaigns_by_workspace", "workspace_id", "created_at", "id"),
)

campaign_emails = sa.Table(
    "campaign_emails",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("subject", sa.Text),
    sa.Column("model", sa.Text),
    sa.Column("structure", sa.Text),
    sa.Column("send_at", sa.DateTime(timezone=True)),
    sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cost", sa.Numeric(14, 8), nullable=False, server_default="0"),
    sa.Column("failure", sa.Text),
    sa.Column("sent", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
    # Failed deliveries (`failed`) by kind: what the receiving side refused (`bounced`), messages
    # that could not be built, suppressed addresses, retries given up, sends skipped over the
    # frequency cap (contracts' FailureKind).
    sa.Column("bounced", sa.Integer, nullable=False, server_default="0"),
    sa.Column("invalid", sa.Integer, nullable=False, server_default="0"),
    sa.Column("suppressed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("expired", sa.Integer, nullable=False, server_default="0"),
    sa.Column("capped", sa.Integer, nullable=False, server_default="0"),
    # Distinct tracked links of the email, from content.generated (migration 0016): the
    # link-scanner rule's "every link clicked within seconds". NULL for emails written before.
    sa.Column("links", sa.Integer),
    # Why the email has its structure: content.generated's contracts.StructureChoice as JSON
    # (migration 0018); NULL for emails written without one.
    sa.Column("structure_choice", JSONB(none_as_null=True)),
    # The email's engagement, counted as it is recorded (migration 0017; performance.py):
    # `human_*` what engagement_rules labelled a person's, `unique_*` distinct addresses.
    *(sa.Column(name, sa.Integer, nullable=False, server_default="0")
      for name in ENGAGEMENT_COUNTERS),
    # A count changed since the last email.performance (`summary_counts` what it said, at
    # `summary_as_of`): the summary publisher's work, found through the partial index.
    sa.Column("summary_due", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("summary_as_of", sa.DateTime(timezone=True)),
    sa.Column("summary_counts", JSONB),
    sa.Index("campaign_emails_summary_due", "summary_as_of",
             postgresql_where=sa.text("summary_due")),
)

# One row per failed delivery, as email.failed reported it.
delivery_failures = sa.Table(
    "delivery_failures",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("recipient", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("smtp_code", sa.Integer),
    sa.Column("enhanced_code", sa.Text),
    sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('bounced', 'invalid', 'suppressed', 'expired', 'capped')",
                       name="delivery_failures_kind"),
    sa.Index("delivery_failures_newest", "campaign_id", sa.text("failed_at DESC"), "sequence",
             "recipient"),
    sa.Index("delivery_failures_by_recipient", "campaign_id", "recipient", "kind"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    # NULL only inside the first request's own transaction: a claim is committed with its answer.
    sa.Column("status_code", sa.Integer),
    sa.Column("response", sa.LargeBinary),
    sa.Column("media_type", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
)

# Opens, clicks and unsubscribes: campaign-api publishes these itself and records each here in
# the same transaction, so the stats count exactly what was published. `kind` 'trap' is a hit
# on an email's hidden trap link: no event, not a click, the evidence its scanner leaves.
# `human` and `machine_reason` (migration 0016) are engagement_rules' verdict; NULL `human`:
# recorded before the rules were.
engagements = sa.Table(
    "engagements",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("url", sa.Text),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("human", sa.Boolean),
    sa.Column("machine_reason", sa.Text),
    sa.CheckConstraint(
        "machine_reason IS NULL OR (machine_reason IN ({}) AND human IS FALSE)".format(
            ", ".join(f"'{r}'" for r in get_args(MachineReason))),
        name="engagements_machine_reason"),
    sa.Index("engagements_by_campaign", "campaign_id", "kind", "sequence"),
    # A recipient's clicks of one email, which the link-scanner rules read (migration 0016).
    sa.Index("engagements_by_recipient", "campaign_id", "sequence", "email", "occurred_at"),
    sa.Index("engagements_unsubscribed", "workspace_id", "email",
             postgresql_where=sa.text("kind = 'unsubscribe'")),
    # A contact's timeline across campaigns (migration 0014).
    sa.Index("engagements_by_contact", "workspace_id", "email", "occurred_at"),
    # A contact's timeline (migration 0009).
    sa.Index("engagements_by_address", "workspace_id", "email", "occurred_at"),
)
