"""The dashboard in a real headless Chromium, against the whole system as `make up` runs it:
sign in, create a campaign with the form, find it, preview its next email, pause it, and read
the delivered mail in the outbox. Every page is saved as a screenshot."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from devstack.stack import Stack
from testkit.fake_openrouter import FakeOpenRouter
from testkit.system import api_client, running_system

pytestmark = pytest.mark.e2e

RECIPIENTS = ["ada@example.com", "grace@example.org"]
NAME = "Spring planner launch"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with (FakeOpenRouter() as fake,
          running_system("cb-dash-", fake, extra_env={"LOG_LEVEL": "WARNING"}) as running):
        yield running


@pytest.fixture(scope="module")
def browser(chromium_path: Path, launch_args: list[str]) -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=launch_args,
                                    headless=True)
        yield browser
        browser.close()


@pytest.fixture
def console(browser: Browser) -> list[str]:
    """What the pages wrote to the browser console (a blocked load is reported there)."""
    return []


@pytest.fixture
def page(browser: Browser, console: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _refused(console: list[str], base_url: str) -> list[str]:
    """The dashboard's own files the Content Security Policy refused (a shown email's pixel is
    refused on purpose: a developer's look is no open)."""
    return [line for line in console
            if "Content Security Policy" in line and f"'{base_url}/dashboard/" in line]


def _shot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_a_campaign_from_sign_in_to_the_outbox(stack: Stack, page: Page, console: list[str],
                                               screenshots: Path) -> None:
    page.goto(f"{stack.base_url}/dashboard/")
    expect(page).to_have_url(re.compile(r"/dashboard/signin$"))
    _shot(page, screenshots, "01-sign-in")
    page.fill("#api_key", "cb_not-a-key")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    page.fill("#api_key", stack.api_key)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/dashboard/campaigns$"))
    expect(page.get_by_text("No campaigns yet")).to_be_visible()
    _shot(page, screenshots, "02-campaigns-empty")

    # The form, with its live preview of the next five sends in the campaign's zone.
    page.get_by_role("link", name="+ New campaign").click()
    page.fill("#name", NAME)
    page.fill("#brief", "Introduce the spring planner: one feature per email, practical tips.")
    page.fill("#brand_voice", "Warm, practical, never pushy.")
    page.fill("#audience_description", "Hobby gardeners who bought last year's planner.")
    page.check("input[name=schedule_type][value=weekly]", force=True)
    for day in ("2", "4"):
        page.check(f"input[name=weekly_days][value='{day}']", force=True)
    page.fill("#duration", "6")
    page.fill("#send_time", "08:30")
    page.select_option("#timezone", "Asia/Tokyo")
    page.fill("#recipients", "\n".join(["Ada Lovelace <ada@example.com>", RECIPIENTS[1]]))
    preview = page.locator("#schedule-preview li")
    expect(preview).to_have_count(5)
    # Starting now: email 1 at once, then Tuesdays and Thursdays at 08:30 Tokyo time (JST).
    expect(preview.nth(0)).to_contain_text("Right away")
    expect(preview.nth(1)).to_contain_text(re.compile(r"(Tue|Thu) .* · 08:30"))
    expect(preview.nth(1)).to_contain_text("JST")
    page.fill("#duration", "2")
    expect(preview).to_have_count(2)  # the preview follows the form as it changes
    page.fill("#duration", "6")
    expect(preview).to_have_count(5)
    _shot(page, screenshots, "03-new-campaign-form")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_role("status")).to_contain_text("Campaign created")

    page.get_by_role("link", name="Campaigns", exact=True).first.click()
    row = page.locator("#campaigns tbody tr", has_text=NAME)
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("Active")
    _shot(page, screenshots, "04-campaign-list")

    row.get_by_role("link", name=NAME).click()
    expect(page.locator("h1")).to_contain_text(NAME)
    # Email 1 is written and sent right away; the timeline shows it once the mailer reports.
    _wait_for_text(page, "#timeline", f"{len(RECIPIENTS)} sent", attempts=40)

    page.get_by_role("button", name="Preview").click()
    draft = page.locator("#draft")
    expect(draft).to_be_visible(timeout=60_000)
    expect(draft.locator(".subject")).not_to_be_empty()
    expect(draft.locator("iframe")).to_have_attribute("sandbox", "")
    _shot(page, screenshots, "05-campaign-with-preview")

    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status")).to_contain_text("Campaign paused")
    expect(page.locator("h1 .badge")).to_have_text("Paused")
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    planned = page.locator("#timeline li.planned")
    expect(planned).to_have_count(5)  # emails 2 to 6, on hold
    _shot(page, screenshots, "06-campaign-paused")
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("status")).to_contain_text("Campaign resumed")
    # Right after Resume, before the scheduler's new plan: the planned emails are still there.
    expect(planned).to_have_count(5)
    expect(planned.first).to_contain_text("Scheduled")
    _shot(page, screenshots, "06b-campaign-resumed")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("h1 .badge")).to_have_text("Paused")

    page.get_by_role("link", name="Audience").click()
    expect(page.locator("#members")).to_contain_text("Ada Lovelace")
    _shot(page, screenshots, "07-audience")

    page.get_by_role("link", name="Outbox").click()
    mail = page.locator("#outbox tbody tr")
    expect(mail).to_have_count(len(RECIPIENTS))
    for address in RECIPIENTS:
        expect(page.locator("#outbox")).to_contain_text(address)
    _shot(page, screenshots, "08-outbox")
    mail.first.get_by_role("link").click()
    expect(page.locator("iframe.mail")).to_have_attribute("sandbox", "")
    expect(page.locator("#text-part")).not_to_be_empty()
    _shot(page, screenshots, "09-outbox-message")
    # Every page above loaded whole: its own icon, styles and scripts, nothing refused ...
    assert _refused(console, stack.base_url) == []
    # ... while the email's open pixel was.
    assert any("Content Security Policy" in line and "/o/" in line for line in console)


def _wait_for_text(page: Page, selector: str, text: str, *, attempts: int) -> None:
    """Reload until `selector` shows `text`: the page is server-rendered, it does not poll."""
    for _ in range(attempts):
        if page.locator(selector).count() and text in page.locator(selector).inner_text():
            return
        page.wait_for_timeout(500)
        page.reload()
    expect(page.locator(selector)).to_contain_text(text)


def _sign_in(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.base_url}/dashboard/signin")
    page.fill("#api_key", stack.api_key)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/dashboard/campaigns$"))


def test_a_daily_cadence_hides_the_weekday_options(stack: Stack, page: Page,
                                                   screenshots: Path) -> None:
    _sign_in(page, stack)
    page.goto(f"{stack.base_url}/dashboard/campaigns/new")
    days = page.locator("#weekly-options")
    expect(days).to_be_visible()
    page.check("input[name=schedule_type][value=daily]", force=True)
    expect(days).to_be_hidden()
    expect(page.locator("label", has_text="Mon")).to_be_hidden()
    _shot(page, screenshots, "10-daily-form")
    page.check("input[name=schedule_type][value=weekly]", force=True)
    expect(days).to_be_visible()
    # A daily form the server sends back (here with every error at once) starts hidden too.
    page.check("input[name=schedule_type][value=daily]", force=True)
    page.fill("#name", "")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator("#name-error")).to_have_text("Required.")
    expect(page.locator("#recipients-error")).to_have_text(
        "Add at least one recipient, or choose a list or segment to send to.")
    expect(days).to_be_hidden()
    _shot(page, screenshots, "11-form-errors")


def test_a_start_in_the_past_starts_now_and_shows_email_1(stack: Stack, page: Page,
                                                          screenshots: Path) -> None:
    with api_client(stack) as api:
        created = api.post("/api/campaigns", json={
            "name": "Started last year", "schedule_type": "daily", "total_emails": 3,
            "start_at": "2025-01-06T09:00:00", "timezone": "Europe/Berlin",
            "ai_agent_id": "openai/gpt-4o-mini", "recipient_emails": ["late@example.com"]})
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        deadline = time.monotonic() + 90
        while True:
            detail = api.get(f"/api/campaigns/{cid}").json()
            # Never the count of slots since the given start, planned and skipped as missed.
            assert detail["next_sequence"] in (None, 1, 2), detail
            if detail["emails"] and detail["emails"][0]["sent"]:
                break
            assert time.monotonic() < deadline, detail
            time.sleep(0.25)
        assert [e["sequence"] for e in detail["emails"]] == [1]
        assert detail["planned_total_emails"] == 3
    _sign_in(page, stack)
    page.goto(f"{stack.base_url}/dashboard/campaigns/{cid}")
    numbers = page.locator("#timeline .num")
    expect(numbers).to_have_count(3)
    expect(numbers).to_have_text(["1", "2", "3"])
    expect(page.locator("#timeline")).to_contain_text("1 sent")
    _shot(page, screenshots, "12-started-in-the-past")
