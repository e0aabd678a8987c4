"""The content generator's tables and every query it runs, one module per aggregate:
`campaigns` (briefs and budgets), `emails` (claims, stored emails and failures, memory),
`calls` (the LLM call log and spend), `performance` (engagement summaries and what the
learners read of them); `tables` is the schema they share."""

from content_generator.db.calls import (
    CallLog,
    CallScope,
    Spend,
    campaign_spend,
    email_spend,
    insert_calls,
    workspace_spend,
)
from content_generator.db.campaigns import (
    campaign_workspace,
    get_campaign,
    save_campaign,
    save_workspace,
    set_state,
    workspace_budget,
)
from content_generator.db.emails import (
    EmailClaim,
    Recall,
    Stored,
    claim_email,
    closest,
    generated_count,
    recall,
    record_failure,
    release_claim,
    store_generated,
    vector_literal,
)
from content_generator.db.engine import create_reader
from content_generator.db.performance import (
    PastPerformance,
    keep_newest_performance,
    past_performance,
)
from content_generator.db.tables import (
    Cost,
    campaigns,
    claims,
    content_failures,
    email_performance,
    generated_emails,
    llm_calls,
    metadata,
    outages,
    workspaces,
)

__all__ = [
    "CallLog",
    "CallScope",
    "Cost",
    "EmailClaim",
    "PastPerformance",
    "Recall",
    "Spend",
    "Stored",
    "campaign_spend",
    "campaign_workspace",
    "campaigns",
    "claim_email",
    "claims",
    "closest",
    "content_failures",
    "create_reader",
    "email_performance",
    "email_spend",
    "generated_count",
    "generated_emails",
    "get_campaign",
    "insert_calls",
    "keep_newest_performance",
    "llm_calls",
    "metadata",
    "outages",
    "past_performance",
    "recall",
    "record_failure",
    "release_claim",
    "save_campaign",
    "save_workspace",
    "set_state",
    "store_generated",
    "vector_literal",
    "workspace_budget",
    "workspace_spend",
    "workspaces",
]
