"""The new-campaign and edit forms, and the schedule preview they ask for."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

NewKey = Callable[[str], Awaitable[str]]  # workspace name -> a new key of it
Dashboard = Callable[..., httpx.AsyncClient]
SignIn = Callable[[httpx.AsyncClient, str], Awaitable[str]]
CreateCampaign = Callable[[httpx.AsyncClient, str], Awaitable[str]]


async def test_a_campaign_made_with_the_form_is_listed_and_shown(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        location = await create_campaign(client, csrf)
        listing = await client.get("/dashboard/campaigns")
        assert "Spring launch" in listing.text
        page = await client.get(location)
        assert page.status_code == 200
        assert "Campaign created" in page.text
        assert "Europe/Berlin" in page.text
        audience = await client.get(location.split("?")[0] + "/audience")
        assert "grace@example.org" in audience.text
        assert "Grace Hopper" in audience.text


async def test_an_invalid_form_comes_back_filled_in_with_messages(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, campaign_form: dict[str, Any],
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        response = await client.post("/dashboard/campaigns/new", data={
            **campaign_form, "csrf_token": csrf, "weekly_days": [], "recipients": "not-an-address",
            "name": "Kept <b>name</b>"})
        assert response.status_code == 422
        assert "Kept &lt;b&gt;name&lt;/b&gt;" in response.text  # escaped, and kept
        assert 'id="weekly_days-error"' in response.text
        assert 'id="recipients-error"' in response.text


async def test_the_edit_form_changes_the_campaign(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
    campaign_form: dict[str, Any],
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        base = (await create_campaign(client, csrf)).split("?")[0]
        form = await client.get(f"{base}/edit")
        assert 'value="Spring launch"' in form.text
        assert '<option value="Europe/Berlin" selected>' in form.text
        changed = {**campaign_form, "csrf_token": csrf, "name": "Spring launch, revised",
                   "schedule_type": "daily", "timezone": "Asia/Tokyo"}
        response = await client.post(f"{base}/edit", data=changed)
        assert response.status_code == 303, response.text
        page = await client.get(response.headers["location"])
        assert "Changes saved" in page.text
        assert "Spring launch, revised" in page.text
        assert "Daily" in page.text
        assert "Asia/Tokyo" in page.text


async def test_the_form_turns_send_time_optimisation_on_and_off(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, campaign_form: dict[str, Any],
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        blank = await client.get("/dashboard/campaigns/new")
        assert re.search(r'name="send_time_optimization"\s*>', blank.text)  # not ticked
        created = await client.post("/dashboard/campaigns/new", data={
            **campaign_form, "csrf_token": csrf, "send_time_optimization": "on"})
        assert created.status_code == 303, created.text
        base = created.headers["location"].split("?")[0]
        form = await client.get(f"{base}/edit")  # filled in from the stored campaign
        assert re.search(r'name="send_time_optimization"\s*checked', form.text)

        # Unticked, a browser sends nothing for it: off.
        edited = await client.post(f"{base}/edit", data={**campaign_form, "csrf_token": csrf})
        assert edited.status_code == 303, edited.text
        form = await client.get(f"{base}/edit")
        assert re.search(r'name="send_time_optimization"\s*>', form.text)


async def test_the_schedule_preview_follows_the_form(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        await sign_in(client, key)
        response = await client.get("/dashboard/api/schedule-preview", params=[
            ("schedule_type", "weekly"), ("weekly_days", "1"), ("weekly_days", "3"),
            ("duration", "3"), ("duration_unit", "emails"), ("start_date", "2099-03-01"),
            ("send_time", "09:00"), ("timezone", "America/New_York")])
        body = response.json()
        assert body["complete"] is True
        # New York springs forward on Sunday 8 March 2099: 09:00 stays 09:00, the offset moves.
        assert [t["iso"] for t in body["times"]] == [
            "2099-03-02T09:00:00-05:00", "2099-03-04T09:00:00-05:00",
            "2099-03-09T09:00:00-04:00"]
        incomplete = await client.get("/dashboard/api/schedule-preview",
                                      params={"schedule_type": "weekly", "timezone": "Nowhere/X"})
        assert incomplete.json() == {"times": [], "complete": False}


async def test_the_preview_shows_the_days_fewer_weekly_emails_than_days_use(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, campaign_form: dict[str, Any],
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        # The design's example: 2 emails a week on Monday, Wednesday and Friday.
        fields = {**campaign_form, "weekly_days": ["1", "3", "5"], "weekly_emails": "2",
                  "start_date": "2099-03-02", "timezone": "UTC"}
        response = await client.get("/dashboard/api/schedule-preview", params=fields)
        body = response.json()
        assert (body["send_days"], body["days"]) == ([1, 5], "Sends on Mon and Fri")
        assert [t["date"][:3] for t in body["times"]] == ["Mon", "Fri", "Mon", "Fri", "Mon"]
        # Refused for its missing name, the form comes back with the same preview.
        page = await client.post("/dashboard/campaigns/new",
                                 data={**fields, "name": "", "csrf_token": csrf})
        assert 'id="schedule-days"' in page.text
        assert "Sends on Mon and Fri" in page.text
        created = await client.post("/dashboard/campaigns/new",
                                    data={**fields, "csrf_token": csrf})
        assert created.status_code == 303, created.text
        campaign = await client.get(created.headers["location"])
        assert "Weekly on Mon, Fri" in " ".join(campaign.text.split())


@pytest.mark.parametrize(("field", "value"), [
    ("send_time", "09:00+02:00"), ("send_time", "9am"), ("weekly_emails", "2.5"),
    ("weekly_emails", "two"), ("duration", "1e3"),
])
async def test_a_form_with_a_field_read_strictly_is_shown_again_with_its_error(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, campaign_form: dict[str, Any],
    field: str, value: str,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        response = await client.post("/dashboard/campaigns/new",
                                     data={**campaign_form, field: value, "csrf_token": csrf})
        assert response.status_code == 422, response.text[:300]
        assert f'id="{field}-error"' in response.text, field
        listing = await client.get("/dashboard/campaigns")
        assert "Spring launch" not in listing.text


async def test_an_invalid_form_shows_every_error_at_once_in_plain_words(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, campaign_form: dict[str, Any],
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        # Field errors (name, length, time, model, sender) and the cross-field checks behind
        # them (no weekday, no recipient), in one answer.
        response = await client.post("/dashboard/campaigns/new", data={
            **campaign_form, "csrf_token": csrf, "name": "", "duration": "0",
            "send_time": "25:00", "model": "not a model!", "from_email": "nobody",
            "weekly_days": [], "recipients": ""})
        assert response.status_code == 422
        shown = dict(re.findall(r'<span class="error-text" id="([a-z_]+)-error">([^<]*)</span>',
                                response.text))
        assert shown == {
            "name": "Required.", "duration": "At least 1.",
            "send_time": "A time of day such as 09:00 or 09:00:00, without an offset.",
            "model": "Use a model name such as openai/gpt-4o-mini: letters, digits and "
                     ". _ : / @ - only.",
            "from_email": "Enter an email address such as ada@example.com.",
            "weekly_days": "A weekly schedule needs at least one weekday.",
            "recipients": "Add at least one recipient, or choose a list or segment to send to.",
        }
        for raw in ("Input should", "String should", "Value error", "total_emails"):
            assert raw not in response.text, raw


async def test_the_edit_form_too_shows_every_error_at_once(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
    campaign_form: dict[str, Any],
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        base = (await create_campaign(client, csrf)).split("?")[0]
        response = await client.post(f"{base}/edit", data={
            **campaign_form, "csrf_token": csrf, "name": "", "weekly_days": [],
            "duration": ""})
        assert response.status_code == 422
        shown = dict(re.findall(r'<span class="error-text" id="([a-z_]+)-error">([^<]*)</span>',
                                response.text))
        assert shown == {
            "name": "Required.",
            "weekly_days": "A weekly schedule needs at least one weekday.",
            "duration": "Give the campaign a length: a number of emails or months.",
        }
