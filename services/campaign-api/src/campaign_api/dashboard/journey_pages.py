"""The journey builder: a journey created or edited as its graph in JSON, the flow it draws
beside it (steps one under another, a branch's ways as two columns), and every error shown
next to the step it names. Saving goes through the same request models and use cases as the
REST API, so the dashboard refuses exactly what the API refuses."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from campaign_api import db
from campaign_api.dashboard import journey_flow
from campaign_api.dashboard.auth import SignedIn, SignedInForm, Viewer
from campaign_api.dashboard.forms import MODELS, time_zones
from campaign_api.dashboard.pages import engine_of, find_campaign, not_found, render
from campaign_api.failures import Failure, Invalid
from campaign_api.schemas import CampaignCreate, CampaignDetail, CampaignUpdate
from campaign_api.usecases import campaigns as campaign_cases

M = TypeVar("M", bound=pydantic.BaseModel)

journey_router = APIRouter(prefix="/dashboard", include_in_schema=False)

MAX_GRAPH_CHARS = 200_000

# What a new journey starts from: the welcome series most journeys begin as.
STARTER: dict[str, Any] = {
    "trigger": {"type": "event_received", "name": "signed_up"},
    "start": "email-1",
    "steps": [
        {"type": "email", "id": "email-1", "goal": "Welcome them and say what comes next",
         "next": "wait-1"},
        {"type": "wait", "id": "wait-1", "until": {"kind": "duration", "seconds": 172_800},
         "next": "clicked-1"},
        {"type": "branch", "id": "clicked-1",
         "condition": {"kind": "clicked", "step": "email-1"},
         "then": "email-2a", "else": "email-2b"},
        {"type": "email", "id": "email-2a", "goal": "Thank them and suggest a next step",
         "next": "done"},
        {"type": "email", "id": "email-2b", "goal": "A gentle reminder of why they signed up",
         "next": "done"},
        {"type": "exit", "id": "done"},
    ],
    "exit_on": [],
}


@dataclass
class JourneyForm:
    name: str = ""
    description: str = ""
    model: str = MODELS[0]
    timezone: str = "UTC"
    graph_text: str = field(default_factory=lambda: json.dumps(STARTER, indent=2))
    # By field name ("name", "graph") or by step id; "form" for the page as a whole.
    errors: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_campaign(cls, c: CampaignDetail) -> JourneyForm:
        graph = c.journey.model_dump(mode="json", by_alias=True, exclude_none=True) \
            if c.journey else STARTER
        return cls(c.name, c.description, c.ai_agent_id, c.timezone,
                   json.dumps(graph, indent=2))

    def graph(self) -> dict[str, Any] | None:
        """The graph as typed, or None with the error under "graph"."""
        if len(self.graph_text) > MAX_GRAPH_CHARS:
            self.errors["graph"] = [f"at most {MAX_GRAPH_CHARS:,} characters"]
            return None
        try:
            found = json.loads(self.graph_text)
        except json.JSONDecodeError as exc:
            self.errors["graph"] = [f"not JSON: {exc.msg} at line {exc.lineno}, "
                                    f"column {exc.colno}"]
            return None
        if not isinstance(found, dict):
            self.errors["graph"] = ["a journey is a JSON object: trigger, start, steps"]
            return None
        return found

    def show(self, graph: dict[str, Any] | None, failure: Failure) -> None:
        """A refusal's errors on the fields and steps they name."""
        pairs = [(e.field, e.message) for e in failure.errors] or [("form", failure.detail)]
        fields = {"name": "name", "description": "description", "ai_agent_id": "model",
                  "timezone": "timezone"}
        steps: list[tuple[str, str]] = []
        for where, message in pairs:
            if where in fields:
                self.errors.setdefault(fields[where], []).append(message)
            elif where.startswith("journey"):
                steps.append((where, message))
            else:
                self.errors.setdefault("form", []).append(f"{where}: {message}")
        for key, found in journey_flow.errors_by_step(graph or {}, steps).items():
            self.errors.setdefault(key, []).extend(found)


async def _posted(request: Request) -> tuple[JourneyForm, str]:
    form = await request.form()
    text = {k: v for k, v in form.items() if isinstance(v, str)}
    return JourneyForm(text.get("name", "").strip(), text.get("description", "").strip(),
                       text.get("model", MODELS[0]), text.get("timezone", "UTC"),
                       text.get("graph", "")), text.get("intent", "save")


def _validated(model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body)
    except pydantic.ValidationError as exc:
        raise Invalid.from_validation(exc, model) from exc


def _page(request: Request, viewer: Viewer, form: JourneyForm, *,
          campaign: CampaignDetail | None = None, status_code: int = 200) -> HTMLResponse:
    graph = form.graph() if "graph" not in form.errors else None
    flow = journey_flow.layout(graph or {}, form.errors)
    return render(request, "journey_form.html", viewer, status_code=status_code,
                  section="campaigns", form=form, campaign=campaign, flow=flow,
                  models=MODELS, zones=time_zones(),
                  step_errors=any(k not in ("name", "description", "model", "timezone",
                                            "graph", "form") for k in form.errors))


@journey_router.get("/journeys/new")
async def new_journey(request: Request, viewer: SignedIn) -> HTMLResponse:
    return _page(request, viewer, JourneyForm())


@journey_router.post("/journeys/new")
async def create_journey(request: Request, viewer: SignedInForm) -> Response:
    form, intent = await _posted(request)
    graph = form.graph()
    if graph is not None and intent == "save":
        try:
            body = _validated(CampaignCreate, {
                "name": form.name, "description": form.description, "kind": "journey",
                "ai_agent_id": form.model, "timezone": form.timezone, "journey": graph})
            created = await campaign_cases.create_campaign(
                engine_of(request), request.app.state.erasure, viewer.workspace_id, body)
        except Failure as exc:
            form.show(graph, exc)
        else:
            return RedirectResponse(f"/dashboard/campaigns/{created.id}?done=journey-created",
                                    status_code=303)
    return _page(request, viewer, form, status_code=422 if form.errors else 200)


@journey_router.get("/journeys/{campaign_id}/edit")
async def edit_journey(request: Request, viewer: SignedIn, campaign_id: uuid.UUID) -> Response:
    campaign = await find_campaign(request, viewer, campaign_id)
    if campaign is None or campaign.kind != "journey":
        return not_found(request, viewer, "journey")
    return _page(request, viewer, JourneyForm.from_campaign(campaign), campaign=campaign)


@journey_router.post("/journeys/{campaign_id}/edit")
async def update_journey(request: Request, viewer: SignedInForm,
                         campaign_id: uuid.UUID) -> Response:
    campaign = await find_campaign(request, viewer, campaign_id)
    if campaign is None or campaign.kind != "journey":
        return not_found(request, viewer, "journey")
    form, intent = await _posted(request)
    graph = form.graph()
    if graph is not None and intent == "save":
        try:
            changes = _validated(CampaignUpdate, {
                "name": form.name, "description": form.description, "ai_agent_id": form.model,
                "timezone": form.timezone, "journey": graph})
            await campaign_cases.update_campaign(engine_of(request), viewer.workspace_id,
                                                 campaign_id, changes)
        except Failure as exc:
            form.show(graph, exc)
        else:
            return RedirectResponse(f"/dashboard/campaigns/{campaign_id}?done=journey-updated",
                                    status_code=303)
    return _page(request, viewer, form, campaign=campaign,
                 status_code=422 if form.errors else 200)


async def journey_view(request: Request, viewer: Viewer, campaign: CampaignDetail,
                       engagement: dict[int, tuple[int, int, int]]) -> dict[str, Any]:
    """The journey's page's live view and funnel: its flow with each step's numbers."""
    graph = campaign.journey.model_dump(mode="json", by_alias=True, exclude_none=True) \
        if campaign.journey else {}
    async with engine_of(request).connect() as conn:
        row = await db.journey_progress_of(conn, viewer.workspace_id, campaign.id)
    steps: list[dict[str, Any]] = list(row.steps) if row is not None else []
    numbers = journey_flow.step_numbers(graph, steps, engagement)
    return {"journey_flow": journey_flow.layout(graph), "journey_numbers": numbers,
            "progress_as_of": row.as_of if row is not None else None,
            "waiting_total": sum(n.waiting for n in numbers.values())}
