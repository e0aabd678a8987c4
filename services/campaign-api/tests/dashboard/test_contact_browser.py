"""The contact pages in a real headless Chromium over a served app: search and filter, select
and tag, a profile with its timeline, lists and custom fields. Every page is kept as a
screenshot."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from playwright.async_api import Page, expect


class Served(Protocol):
    """The conftest's app on a socket: where, and the workspace signed in."""

    base_url: str
    key: str
    workspace_id: uuid.UUID


Seed = Callable[..., Awaitable[uuid.UUID]]
SeedHistory = Callable[..., Awaitable[None]]


async def _shot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


async def test_contacts_are_found_selected_tagged_and_listed(
    page: Page, served: Served, seed_contacts: Seed, screenshots: Path,
) -> None:
    garden = await seed_contacts(served.workspace_id, count=6)
    await page.click("nav >> text=Contacts")
    await expect(page.locator("#contacts tbody tr")).to_have_count(6)
    await _shot(page, screenshots, "contacts-01-all")
    await page.fill('input[aria-label="Search contacts"]', "person 4")
    await page.click("#contact-filters button[type=submit]")
    await expect(page.locator("#contacts tbody tr")).to_have_count(1)
    await expect(page.locator("#contacts")).to_contain_text("person4@example.com")
    await page.click("text=Clear")
    await page.select_option('select[aria-label="Status"]', "subscribed")
    await page.fill('#contact-filters input[aria-label="Tag"]', "vip")
    await page.click("#contact-filters button[type=submit]")
    await expect(page.locator("#contacts tbody tr")).to_have_count(3)
    await _shot(page, screenshots, "contacts-02-filtered")
    await page.check("#select-all")  # the page's script ticks every row
    await page.select_option("#bulk-action", "add_to_list")
    await page.select_option('select[aria-label="List to add to or remove from"]',
                             str(garden))
    await page.click("#bulk button[type=submit]")
    await expect(page.get_by_role("status")).to_contain_text("on the list")
    await _shot(page, screenshots, "contacts-03-listed")
    await page.goto(f"{served.base_url}/dashboard/contacts?list={garden}")
    await expect(page.locator("#contacts tbody tr")).to_have_count(3)
    await page.check('input[aria-label="Select person2@example.com"]')
    await page.fill('input[aria-label="Tag to add or remove"]', "spring")
    await page.click("#bulk button[type=submit]")
    await expect(page.get_by_role("status")).to_contain_text("tag was added")
    await page.goto(f"{served.base_url}/dashboard/contacts?tag=spring")
    await expect(page.locator("#contacts tbody tr")).to_have_count(1)
    await expect(page.locator("#contacts")).to_contain_text("person2@example.com")


async def test_a_profile_shows_its_timeline_across_campaigns(
    page: Page, served: Served, seed_contacts: Seed, seed_history: SeedHistory,
    screenshots: Path,
) -> None:
    await seed_contacts(served.workspace_id, count=2)
    # Campaigns made with the form: the timeline names them and links to them.
    made = []
    for name in ("Spring planner", "Autumn bulbs"):
        await page.goto(f"{served.base_url}/dashboard/campaigns/new")
        await page.fill("#name", name)
        await page.fill("#brief", "Emails about the planner.")
        await page.fill("#recipients", "person0@example.com")
        await page.click("form button[type=submit].primary")
        await expect(page).to_have_url(re.compile(r"/dashboard/campaigns/[0-9a-f-]+"))
        made.append(uuid.UUID(page.url.split("?")[0].rsplit("/", 1)[1]))
    await seed_history(served.workspace_id, made[0], "person0@example.com",
                       "person1@example.com")
    await seed_history(served.workspace_id, made[1], "person1@example.com",
                       "person0@example.com")
    await page.goto(f"{served.base_url}/dashboard/contacts")
    await page.click("text=person0@example.com")
    timeline = page.locator("#contact-timeline li")
    await expect(timeline).to_have_count(4)
    await expect(page.locator("#contact-timeline")).to_contain_text("Autumn bulbs")
    await expect(page.locator("#contact-timeline")).to_contain_text("Bounced")
    await expect(page.locator("#contact-timeline")).to_contain_text("Clicked")
    await expect(page.locator("#profile")).to_contain_text("Plan")
    await expect(page.locator("#lists")).to_contain_text("Gardeners")
    await expect(page.locator("#consents")).to_contain_text("consent")
    await _shot(page, screenshots, "contacts-04-profile")


async def test_lists_and_fields_are_made_from_their_pages(
    page: Page, served: Served, screenshots: Path,
) -> None:
    await page.goto(f"{served.base_url}/dashboard/contacts")
    await page.get_by_role("link", name="Lists", exact=True).click()
    await page.click("#new-list button[type=submit]")
    await expect(page.locator("#name-error")).to_be_visible()
    await page.fill("#list-name", "Newsletter")
    await page.click("#new-list button[type=submit]")
    await expect(page.get_by_role("status")).to_contain_text("List created")
    await page.fill('input[aria-label="New name of Newsletter"]', "Monthly letter")
    await page.click("#lists-table button[type=submit]")
    await expect(page.locator("#lists-table")).to_contain_text("Monthly letter")
    await _shot(page, screenshots, "contacts-05-lists")
    await page.click("#lists-table >> text=Monthly letter")
    await expect(page).to_have_url(re.compile(r"/dashboard/contacts\?list="))
    await expect(page.get_by_text("No contact matches")).to_be_visible()
    await page.goto(f"{served.base_url}/dashboard/fields")
    await page.fill("#field-key", "9lives")
    await page.click("#new-field button[type=submit]")
    await expect(page.locator("#key-error")).to_be_visible()
    await _shot(page, screenshots, "contacts-06-field-refused")
    await page.fill("#field-key", "renewal")
    await page.fill("#field-label", "Renewal date")
    await page.select_option("#field-type", "date")
    await page.click("#new-field button[type=submit]")
    await expect(page.locator("#fields-table")).to_contain_text("Renewal date")
    await _shot(page, screenshots, "contacts-07-fields")
