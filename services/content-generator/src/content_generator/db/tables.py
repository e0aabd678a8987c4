"""The content generator's tables: the schema its migrations build."""

from __future__ import annotations

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = sa.MetaData()

# Credits, to domain.COST_QUANTUM.
Cost = sa.Numeric(18, 10)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("brand_voice", sa.Text, nullable=False),
    sa.Column("audience_description", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("fallback_models", JSONB, nullable=False),
    sa.Column("timezone", sa.Text, nullable=False),
    # contracts.AbTest as JSON; null: no email is tested.
    sa.Column("ab_test", JSONB),
    # A journey's email steps, {"<sequence>": JourneyEmail as JSON}, those of earlier versions
    # kept (migration 0007); null: a campaign.
    sa.Column("journey_emails", JSONB),
    # active | paused | cancelled | completed
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now(), onupdate=sa.func.now()),
)

generated_emails = sa.Table(
    "generated_emails",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("preheader", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("structure", sa.Text, nullable=False),
    sa.Column("prompt_version", sa.Text, nullable=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=False),
    sa.Column("completion_tokens", sa.Integer, nullable=False),
    sa.Column("cost", Cost, nullable=False),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    # Semantic memory: no fixed dimension, since the embedder decides it; vectors are compared
    # only with those of the same `embedding_model`, within one campaign (an exact scan over a
    # campaign's emails, which needs no ANN index).
    sa.Column("embedding", Vector()),
    sa.Column("embedding_model", sa.Text),
    # Cosine similarity to the closest earlier email of the campaign when it was written.
    sa.Column("max_similarity", sa.Float),
    # The email.due's send time: the reward window of the email's engagement starts there.
    sa.Column("send_at", sa.DateTime(timezone=True)),
    # Why the structure was chosen: contracts.StructureChoice as JSON.
    sa.Column("structure_choice", JSONB),
    sa.UniqueConstraint("campaign_id", "sequence", name="generated_emails_campaign_sequence"),
)

llm_calls = sa.Table(
    "llm_calls",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    # ok | error
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("http_status", sa.Integer),
    sa.Column("prompt_tokens", sa.Integer, nullable=False),
    sa.Column("completion_tokens", sa.Integer, nullable=False),
    sa.Column("cost", Cost, nullable=False),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    # NULL only on rows written before workspaces were recorded.
    sa.Column("workspace_id", UUID(as_uuid=True)),
    # chat | embedding
    sa.Column("kind", sa.Text, nullable=False, server_default="chat"),
    # Calls made for a preview draft: billed, but for no stored email.
    sa.Column("preview", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("llm_calls_campaign", "campaign_id", "sequence"),
    sa.Index("llm_calls_workspace_month", "workspace_id", "created_at"),
)

workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
    # Credits per calendar month (UTC); NULL: no limit.
    sa.Column("monthly_llm_budget", Cost),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
)

# Times every model failed an email, counted outside the unit of work that rolls back, so the
# degradation policy knows how many tries are left.
outages = sa.Table(
    "generation_outages",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
)

# Emails that could not be written for a reason retrying cannot fix; a later success for the
# same email removes the row.
content_failures = sa.Table(
    "content_failures",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
)


# Who is writing an email right now: taken before the model is asked (no transaction stays open
# during the call), given up with the outcome. A claim left by a process that died lapses at
# `expires_at`, when JetStream redelivers the email.due anyway.
claims = sa.Table(
    "generation_claims",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("token", UUID(as_uuid=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


# The counts of email.performance (contracts.EmailPerformancePayload), besides its ids.
PERFORMANCE_COUNTS = ("delivered", "bounced", "opens", "unique_opens", "human_opens",
                      "unique_human_opens", "clicks", "unique_clicks", "human_clicks",
                      "unique_human_clicks", "unsubscribes")

# Each email's newest email.performance (by its `as_of`) within the reward window after its
# send: what the structure bandit and the prompt's examples learn from.
email_performance = sa.Table(
    "email_performance",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("structure", sa.Text, nullable=False),
    *(sa.Column(name, sa.Integer, nullable=False) for name in PERFORMANCE_COUNTS),
    sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
)
