"""The dashboard's pages: server-rendered HTML over the same use cases as the REST API."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from campaign_api.auth import TooManyFailures
from campaign_api.dashboard import charts
from campaign_api.dashboard.auth import (
    Session,
    SignedIn,
    SignedInForm,
    Viewer,
    any_session,
    check_csrf,
    is_live,
    new_session,
    sign_in,
    sign_out,
    write_session,
)
from campaign_api.dashboard.contact_pages import MAX_LISTS_SHOWN, all_lists
from campaign_api.dashboard.forms import (
    AUDIENCE_CHOICES,
    MODELS,
    WEEKDAYS,
    CampaignForm,
    time_zones,
)
from campaign_api.dashboard.journey_pages import journey_view
from campaign_api.dashboard.pages import engine_of, find_campaign, nats_of, not_found, render
from campaign_api.domain import can_edit
from campaign_api.failures import Failure, NotFound
from campaign_api.schemas import CampaignDetail, PreviewEmail
from campaign_api.schemas_report import CampaignReport, CampaignStats
from campaign_api.usecases import campaigns as campaign_cases
from campaign_api.usecases import preview, segments, stats
from campaign_api.usecases.preview import DEFAULT_TIMEOUT_SECONDS
from rules import cadence as cadences
from rules.lifecycle import STATUSES
from rules.weekdays import ABBREVIATIONS

router = APIRouter(prefix="/dashboard", include_in_schema=False)

# The campaign list filters by each status of the lifecycle.
STATUS_FILTERS: tuple[str, ...] = STATUSES
PREVIEW_TIMEOUT_SECONDS = min(DEFAULT_TIMEOUT_SECONDS, 45.0)


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


# --- signing in ------------------------------------------------------------------------------


@router.get("/")
async def home() -> RedirectResponse:
    return _redirect("/dashboard/campaigns")


@router.get("/signin")
async def signin_page(request: Request,
                      session: Annotated[Session, Depends(any_session)]) -> Response:
    if session.session_id is not None:
        if await is_live(request, session):
            return _redirect("/dashboard/campaigns")
        session = new_session()  # an ended session: sign in afresh, no redirect loop
    response = render(request, "signin.html", None, csrf=session.csrf, error=None)
    write_session(request, response, session)
    return response


@router.post("/signin")
async def signin(request: Request, session: Annotated[Session, Depends(any_session)]) -> Response:
    await check_csrf(request, session.csrf)
    key = (await request.form()).get("api_key")
    try:
        signed = await sign_in(request, key if isinstance(key, str) else "")
    except TooManyFailures as exc:
        response: Response = render(
            request, "signin.html", None, status_code=429, csrf=session.csrf,
            error=f"Too many failed sign-ins from your address. Try again in "
                  f"{exc.retry_after} s.")
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if signed is None:
        return render(request, "signin.html", None, status_code=401, csrf=session.csrf,
                      error="That key is not valid, or it has been revoked.")
    response = _redirect("/dashboard/campaigns")
    write_session(request, response, signed)
    return response


@router.post("/signout")
async def signout(request: Request, viewer: SignedInForm) -> RedirectResponse:
    response = _redirect("/dashboard/signin?done=signed-out")
    write_session(request, response, await sign_out(request, viewer))
    return response


# --- campaigns -------------------------------------------------------------------------------


@router.get("/campaigns")
async def campaign_list(
    request: Request, viewer: SignedIn,
    status: Annotated[str, Query(max_length=20)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    statuses = [status] if status in STATUS_FILTERS else None
    try:
        page = await campaign_cases.list_campaigns(
            engine_of(request), viewer.workspace_id, limit=25, cursor=cursor, statuses=statuses,
            text=q.strip() or None)
    except Failure:  # a cursor that is not ours: start over
        return _redirect("/dashboard/campaigns")  # type: ignore[return-value]
    return render(request, "campaigns.html", viewer, section="campaigns", page=page,
                  status=status if statuses else "", q=q, filters=STATUS_FILTERS)


async def _form_page(request: Request, viewer: Viewer, form: CampaignForm, *,
                     campaign: CampaignDetail | None = None,
                     status_code: int = 200) -> HTMLResponse:
    cadence = form.cadence()
    # Lists to target: the workspace's own (a campaign's own list is that campaign's).
    targets = [x for x in await all_lists(engine_of(request), viewer.workspace_id)
               if x.kind == "list"]
    saved = (await segments.list_segments(engine_of(request), viewer.workspace_id,
                                          limit=MAX_LISTS_SHOWN)).items
    now = datetime.now(UTC)
    preview_times = [(_day_label(t, now), t) for t in cadences.preview(cadence, now)
                     ] if cadence else []
    return render(request, "campaign_form.html", viewer, status_code=status_code,
                  section="campaigns", form=form, campaign=campaign, weekdays=WEEKDAYS,
                  models=MODELS, zones=time_zones(), preview_times=preview_times,
                  preview_days=_days_label(cadence.rule(now).weekdays) if cadence else "",
                  target_lists=targets, target_segments=saved)


@router.get("/campaigns/new")
async def new_campaign(request: Request, viewer: SignedIn) -> HTMLResponse:
    return await _form_page(request, viewer, CampaignForm())


async def _posted_form(request: Request) -> CampaignForm:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    days = [d for d in form.getlist("weekly_days") if isinstance(d, str)]
    chosen = {k: [v for v in form.getlist(k) if isinstance(v, str)] for k in AUDIENCE_CHOICES}
    return CampaignForm.from_mapping(fields, days, chosen)


@router.post("/campaigns/new")
async def create_campaign(request: Request, viewer: SignedInForm) -> Response:
    form = await _posted_form(request)
    body = form.to_create()
    if body is not None:
        try:
            created = await campaign_cases.create_campaign(
                engine_of(request), request.app.state.erasure, viewer.workspace_id, body)
        except Failure as exc:
            form.show_errors(exc.errors or [])
            form.errors.setdefault("form", exc.detail)
        else:
            return _redirect(f"/dashboard/campaigns/{created.id}?done=created")
    return await _form_page(request, viewer, form, status_code=422)


@router.get("/campaigns/{campaign_id}")
async def campaign_page(request: Request, viewer: SignedIn,
                        campaign_id: uuid.UUID) -> HTMLResponse:
    return await _campaign_page(request, viewer, campaign_id)


async def _campaign_page(request: Request, viewer: Viewer, campaign_id: uuid.UUID, *,
                         draft: PreviewEmail | None = None,
                         preview_error: str | None = None) -> HTMLResponse:
    campaign = await find_campaign(request, viewer, campaign_id)
    if campaign is None:
        return not_found(request, viewer, "campaign")
    counts = await stats.campaign_stats(engine_of(request), viewer.workspace_id, campaign_id)
    report = await stats.campaign_report(engine_of(request), viewer.workspace_id, campaign_id)
    journey = await journey_view(request, viewer, campaign, {
        e.sequence: (e.sent, e.unique_human_opens, e.unique_human_clicks)
        for e in counts.emails}) if campaign.kind == "journey" else {}
    return render(request, "campaign.html", viewer, section="campaigns", c=campaign, **journey,
                  img_src="data:",  # the preview's frame: nothing fetched, no pixel fired
                  stats=counts, chart=_activity_chart(campaign, counts), report=report,
                  funnel=_funnel(report), rates=_rates(report),
                  zone=ZoneInfo(campaign.timezone), draft=draft, preview_error=preview_error,
                  due=_due_unreported(campaign),
                  # The days it sends on: of the chosen days, the most evenly spread when it has
                  # fewer emails a week than days.
                  days=", ".join(ABBREVIATIONS[d - 1] for d in campaign.send_days))


def _due_unreported(campaign: CampaignDetail) -> list[int]:
    """Emails the plan says are due (before `next_sequence`) that no service has reported
    yet: being written or sent now, shown so that the timeline has no hole."""
    if campaign.next_sequence is None or not can_edit(campaign.status):
        return []
    known = {e.sequence for e in campaign.emails}
    return [s for s in range(1, campaign.next_sequence) if s not in known]


def _funnel(report: CampaignReport) -> list[charts.FunnelStep]:
    """People only: a proxy's open or a scanner's click is nobody reading."""
    t = report.totals
    return charts.funnel([("Delivered", t.sent), ("Opened", t.unique_human_opens),
                          ("Clicked", t.unique_human_clicks)])


def _rates(report: CampaignReport) -> charts.LineChart:
    """People's open and click rates of each delivered email, in sequence."""
    delivered = [e for e in report.emails if e.sent]
    return charts.rate_lines({
        "opened": [(e.sequence, e.human_open_rate) for e in delivered],
        "clicked": [(e.sequence, e.human_click_rate) for e in delivered]})


def _activity_chart(campaign: CampaignDetail, counts: CampaignStats) -> charts.BarChart:
    """Sends, opens and clicks of each email, on the local date the email was sent."""
    zone = ZoneInfo(campaign.timezone)
    send_day = {e.sequence: e.send_at.astimezone(zone).date()
                for e in campaign.emails if e.send_at is not None}
    series: dict[str, Counter[date]] = {"sends": Counter(), "opens": Counter(),
                                        "clicks": Counter()}
    for email in counts.emails:
        day = send_day.get(email.sequence)
        if day is not None:
            series["sends"][day] += email.sent
            series["opens"][day] += email.opens
            series["clicks"][day] += email.clicks
    return charts.bar_chart(series)


@router.get("/campaigns/{campaign_id}/edit")
async def edit_campaign(request: Request, viewer: SignedIn,
                        campaign_id: uuid.UUID) -> HTMLResponse:
    campaign = await find_campaign(request, viewer, campaign_id)
    if campaign is None:
        return not_found(request, viewer, "campaign")
    return await _form_page(request, viewer, CampaignForm.from_campaign(campaign),
                            campaign=campaign)


@router.post("/campaigns/{campaign_id}/edit")
async def update_campaign(request: Request, viewer: SignedInForm,
                          campaign_id: uuid.UUID) -> Response:
    campaign = await find_campaign(request, viewer, campaign_id)
    if campaign is None:
        return not_found(request, viewer, "campaign")
    form = await _posted_form(request)
    changes = form.to_update()
    if changes is not None:
        try:
            await campaign_cases.update_campaign(engine_of(request), viewer.workspace_id,
                                                 campaign_id, changes)
        except Failure as exc:
            form.show_errors(exc.errors or [])
            form.errors.setdefault("form", exc.detail)
        else:
            return _redirect(f"/dashboard/campaigns/{campaign_id}?done=updated")
    return await _form_page(request, viewer, form, campaign=campaign, status_code=422)


@router.post("/campaigns/{campaign_id}/preview")
async def preview_email(request: Request, viewer: SignedInForm,
                        campaign_id: uuid.UUID) -> HTMLResponse:
    try:
        draft = await preview.preview_next_email(
            engine_of(request), nats_of(request), viewer.workspace_id, campaign_id,
            timeout=PREVIEW_TIMEOUT_SECONDS)
    except Failure as exc:
        if await find_campaign(request, viewer, campaign_id) is None:
            return not_found(request, viewer, "campaign")
        return await _campaign_page(request, viewer, campaign_id,
                                    preview_error=_friendly(exc))
    return await _campaign_page(request, viewer, campaign_id, draft=draft)


def _friendly(exc: Failure) -> str:
    if exc.status in (503, 504):
        return ("The writer is not reachable right now, so there is no preview. Your campaign "
                "is safe: emails are written ahead of their send time and retried. "
                f"({exc.detail})")
    return exc.detail


_ACTIONS = {"pause": (campaign_cases.pause_campaign, "paused"),
            "resume": (campaign_cases.resume_campaign, "resumed"),
            "cancel": (campaign_cases.cancel_campaign, "cancelled")}


# Last among the campaign routes: it would shadow /preview and /audience.
@router.post("/campaigns/{campaign_id}/{action}")
async def change_status(request: Request, viewer: SignedInForm, campaign_id: uuid.UUID,
                        action: str) -> Response:
    if action not in _ACTIONS:
        return not_found(request, viewer, "page")
    use_case, done = _ACTIONS[action]
    try:
        await use_case(engine_of(request), viewer.workspace_id, campaign_id)
    except NotFound:
        return not_found(request, viewer, "campaign")
    except Failure as exc:
        return await _campaign_page(request, viewer, campaign_id, preview_error=exc.detail)
    return _redirect(f"/dashboard/campaigns/{campaign_id}?done={done}")


# --- schedule preview (the form's script asks this) ------------------------------------------


@router.get("/api/schedule-preview")
async def schedule_preview(request: Request, viewer: SignedIn) -> JSONResponse:
    params = request.query_params
    form = CampaignForm.from_mapping(
        {k: v for k, v in params.items() if len(v) <= 100},
        [d for d in params.getlist("weekly_days") if len(d) <= 2])
    cadence = form.cadence()
    if cadence is None:
        return JSONResponse({"times": [], "complete": False})
    now = datetime.now(UTC)
    days = cadence.rule(now).weekdays
    return JSONResponse({"complete": True, "send_days": list(days), "days": _days_label(days),
                         "times": [
        {"iso": t.isoformat(), "date": _day_label(t, now), "time": f"{t:%H:%M}",
         "zone": t.tzname() or ""} for t in cadences.preview(cadence, now)]})


def _days_label(days: tuple[int, ...]) -> str:
    """"Sends every day", or the days a weekly cadence uses: "Sends on Mon and Fri"."""
    if len(days) == 7:
        return "Sends every day"
    names = [ABBREVIATIONS[d - 1] for d in days]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"Sends on {listed}"


def _day_label(moment: datetime, now: datetime) -> str:
    # A campaign starting now sends its first email at once, not at a time worth reading.
    return "Right away" if moment.astimezone(UTC) == now else f"{moment:%a %d %b %Y}"


__all__ = ["router"]
