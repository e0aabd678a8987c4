"""The mailer's tables and every query it runs: `tables` is the schema, `copies` the mailer's
copies of campaigns, audiences, suppressions and contents, `deliveries` the deliveries, their
claims and their outcomes. SQL is written in this package only."""

from mailer.db.copies import (
    CampaignRow,
    ContentRow,
    contents_for,
    get_campaign,
    insert_content,
    remove_members,
    set_campaign_state,
    suppress,
    suppress_many,
    upsert_campaign,
    upsert_members,
)
from mailer.db.deliveries import (
    ClaimedRow,
    OutcomeRow,
    cancel_pending,
    claim_due,
    create_deliveries,
    record_outcomes,
    release,
    renew_leases,
    settle,
)
from mailer.db.tables import (
    audience_members,
    campaigns,
    contents,
    deliveries,
    metadata,
    suppressions,
)

__all__ = [
    "CampaignRow",
    "ClaimedRow",
    "ContentRow",
    "OutcomeRow",
    "audience_members",
    "campaigns",
    "cancel_pending",
    "claim_due",
    "contents",
    "contents_for",
    "create_deliveries",
    "deliveries",
    "get_campaign",
    "insert_content",
    "metadata",
    "record_outcomes",
    "release",
    "remove_members",
    "renew_leases",
    "set_campaign_state",
    "settle",
    "suppress",
    "suppress_many",
    "suppressions",
    "upsert_campaign",
    "upsert_members",
]
