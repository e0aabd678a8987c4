"""The Contacts page (search, filters, cursor pages, bulk tag and list actions on the selected
contacts) and a contact's profile with its timeline across campaigns."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api.dashboard.auth import SignedIn, SignedInForm, Viewer
from campaign_api.dashboard.pages import engine_of, not_found, render
from campaign_api.db.contact_tables import CONTACT_STATUSES
from campaign_api.failures import Failure, NotFound
from campaign_api.schemas_contacts import ContactList, MembersChange
from campaign_api.usecases import contact_tags, contact_timeline, contacts, journey_history, lists
from contracts.journeys import ActionKind

contact_router = APIRouter(prefix="/dashboard", include_in_schema=False)

PAGE_SIZE = 50
# What one bulk action may name: the contacts of one page, selected by hand.
MAX_SELECTED = PAGE_SIZE
# Lists offered in the filter and the bulk actions (a workspace's lists, by name).
MAX_LISTS_SHOWN = 200
_FILTERS = ("q", "tag", "status", "list")
# The same four things a journey's action step does to a contact.
BULK_ACTIONS: tuple[str, ...] = get_args(ActionKind)


async def all_lists(engine: AsyncEngine, workspace_id: uuid.UUID) -> list[ContactList]:
    return (await lists.list_lists(engine, workspace_id, limit=MAX_LISTS_SHOWN)).items


def _filters(values: dict[str, str]) -> dict[str, str]:
    """The filters that are set, as they go back into a link."""
    return {k: values[k] for k in _FILTERS if values.get(k)}


@contact_router.get("/contacts")
async def contact_list(
    request: Request, viewer: SignedIn,
    q: Annotated[str, Query(max_length=320)] = "",
    tag: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    list_id: Annotated[str, Query(alias="list", max_length=40)] = "",
    cursor: Annotated[str | None, Query(max_length=1_000)] = None,
) -> HTMLResponse:
    return await _contacts_page(request, viewer, {"q": q.strip(), "tag": tag.strip(),
                                                  "status": status, "list": list_id},
                                cursor=cursor)


async def _contacts_page(request: Request, viewer: Viewer, chosen: dict[str, str], *,
                         cursor: str | None = None, status_code: int = 200,
                         **context: Any) -> HTMLResponse:
    engine = engine_of(request)
    shown_lists = await all_lists(engine, viewer.workspace_id)
    errors: dict[str, str] = {}
    list_id = _uuid(chosen["list"])
    if chosen["list"] and list_id is None:
        errors["list"] = "Not a list of this workspace."
    if chosen["status"] and chosen["status"] not in CONTACT_STATUSES:
        errors["status"] = "Choose one of the statuses."
    page = None
    if not errors:
        try:
            page = await contacts.search_contacts(
                engine, viewer.workspace_id, limit=PAGE_SIZE, cursor=cursor,
                q=chosen["q"] or None, tag=chosen["tag"] or None,
                status=chosen["status"] or None, list_id=list_id)
        except Failure as exc:  # a tag that cannot be one, or a cursor that is not ours
            errors[_field_of(exc) or "q"] = exc.detail
    return render(request, "contacts.html", viewer, status_code=422 if errors else status_code,
                  section="contacts", page=page, chosen=chosen, errors=errors,
                  statuses=CONTACT_STATUSES, lists=shown_lists,
                  own_lists=[x for x in shown_lists if x.kind == "list"],
                  filter_query=urlencode(_filters(chosen)), actions=BULK_ACTIONS,
                  # The export takes the filters but not the search.
                  export_query=urlencode({k: v for k, v in _filters(chosen).items() if k != "q"}),
                  **context)


def _field_of(exc: Failure) -> str | None:
    for error in exc.errors or []:
        if error.field in ("tag", "cursor"):
            return "tag" if error.field == "tag" else "q"
    return None


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


@contact_router.post("/contacts/bulk")
async def bulk_action(request: Request, viewer: SignedInForm) -> Response:
    form = await request.form()
    chosen = {k: str(form.get(k) or "") for k in _FILTERS}
    picked = [_uuid(str(v)) for v in form.getlist("contact_id")]
    action, tag = str(form.get("action") or ""), str(form.get("new_tag") or "").strip()
    target = _uuid(str(form.get("list_id") or ""))
    error = None
    if not picked or None in picked:
        error = "Select at least one contact."
    elif len(picked) > MAX_SELECTED:
        error = f"Select at most {MAX_SELECTED} contacts at once."
    elif action not in BULK_ACTIONS:
        error = "Choose an action."
    elif action.endswith("_tag") and not tag:
        error = "Type the tag to add or remove."
    elif action.endswith("_list") and target is None:
        error = "Choose a list."
    if error is None:
        ids = [p for p in picked if p is not None]
        try:
            if action.endswith("_tag"):
                await contact_tags.retag_contacts(engine_of(request), viewer.workspace_id,
                                                  ids, tag, add=action == "add_tag")
            else:
                assert target is not None
                change = (lists.add_list_members if action == "add_to_list"
                          else lists.remove_list_members)
                await change(engine_of(request), viewer.workspace_id, target,
                             MembersChange(contact_ids=ids))
        except NotFound:
            error = "That list is not one of this workspace's."
        except Failure as exc:
            error = exc.detail
    if error is not None:
        return await _contacts_page(request, viewer, chosen, status_code=422,
                                    bulk_error=error)
    done = {"add_tag": "tagged", "remove_tag": "untagged", "add_to_list": "listed",
            "remove_from_list": "unlisted"}[action]
    query = urlencode({**_filters(chosen), "done": done})
    return RedirectResponse(f"/dashboard/contacts?{query}", status_code=303)


@contact_router.get("/contacts/{contact_id}")
async def contact_profile(request: Request, viewer: SignedIn,
                          contact_id: uuid.UUID) -> HTMLResponse:
    engine = engine_of(request)
    try:
        found = await contacts.get_contact(engine, viewer.workspace_id, contact_id)
        timeline = await contact_timeline.contact_timeline(engine, viewer.workspace_id,
                                                           contact_id)
        in_segments = await contact_timeline.contact_segments(engine, viewer.workspace_id,
                                                              contact_id)
    except NotFound:
        return not_found(request, viewer, "contact")
    # The contact is the viewer's workspace's: get_contact found it there.
    journeys, journeys_truncated = await journey_history.journey_history(engine, contact_id)
    declared = await lists.list_fields(engine, viewer.workspace_id)
    list_names = {x.id: x.name for x in await all_lists(engine, viewer.workspace_id)}
    known = {f.key for f in declared}
    return render(request, "contact.html", viewer, section="contacts", c=found,
                  declared=declared, timeline=timeline, list_names=list_names,
                  in_segments=in_segments, journeys=journeys,
                  journeys_truncated=journeys_truncated,
                  undeclared={k: v for k, v in found.fields.items() if k not in known})
