"""Every use case of campaign-api as a plain async function of (engine, workspace_id, ...),
returning the API's pydantic models. The REST routes and the dashboard both call these; they
raise `campaign_api.failures.Failure` subclasses when they refuse."""

from campaign_api.usecases.accounts import (
    authenticate,
    create_api_key,
    create_workspace,
    get_workspace,
    list_api_keys,
    revoke_api_key,
)
from campaign_api.usecases.audiences import add_members, import_csv, list_members, remove_members
from campaign_api.usecases.campaigns import (
    archive_campaign,
    cancel_campaign,
    change_status,
    create_campaign,
    get_campaign,
    list_campaigns,
    list_emails,
    pause_campaign,
    resume_campaign,
    update_campaign,
)
from campaign_api.usecases.engagement import (
    already_unsubscribed,
    record_click,
    record_open,
    record_trap,
    unsubscribe,
    unsubscribe_claims,
)
from campaign_api.usecases.preview import preview_next_email
from campaign_api.usecases.stats import campaign_report, campaign_stats, list_failures

__all__ = [
    "add_members", "already_unsubscribed", "archive_campaign", "authenticate", "campaign_report",
    "campaign_stats",
    "cancel_campaign", "change_status", "create_api_key", "create_campaign", "create_workspace",
    "get_campaign", "get_workspace", "import_csv", "list_api_keys", "list_campaigns",
    "list_emails", "list_failures", "list_members", "pause_campaign", "preview_next_email",
    "record_click", "record_open", "record_trap", "remove_members", "resume_campaign",
    "revoke_api_key", "unsubscribe", "unsubscribe_claims", "update_campaign",
]
