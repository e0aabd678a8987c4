"""The campaign report in a real headless Chromium over a served app: engagement recorded
through the real tracking links (a person, an image proxy, a link scanner) shows in the per-email
and per-link tables, the people's funnel and the rates over the sequence. Kept as a screenshot."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import handlers
from campaign_api.settings import DEVELOPMENT_LINK_KEY
from contracts import ContentGenerated, EmailSent
from contracts.events import (
    ContentGeneratedPayload,
    EmailSentPayload,
)
from contracts.learning import ArmBelief, StructureChoice
from contracts.links import LinkClaims, LinkSigner
from servicekit.db import UnitOfWork

SIGNER = LinkSigner(DEVELOPMENT_LINK_KEY)  # what the served app verifies with, unconfigured
SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.4 Safari/605.1.15")
SCANNER = "python-requests/2.31.0"
TULIPS, ROSES = "https://shop.example/tulips", "https://shop.example/roses"
BODY = f'<p><a href="{TULIPS}">Tulips</a> <a href="{ROSES}">Roses</a></p>'
PEOPLE = tuple(f"reader{i}@example.com" for i in range(10))
# Why email 3 is a question, as the content generator's bandit said: the highest draw.
WHY_THIRD = StructureChoice(rule="thompson", arm="question", seed=42, arms=[
    ArmBelief(arm="story", alpha=2.0, beta=10.0, mean=0.1667, sample=0.125),
    ArmBelief(arm="list", alpha=3.0, beta=9.0, mean=0.25, sample=0.2),
    ArmBelief(arm="question", alpha=4.0, beta=8.0, mean=0.3333, sample=0.4),
])


class Served(Protocol):
    base_url: str
    key: str
    workspace_id: uuid.UUID


async def _deliver(engine: AsyncEngine, ws: uuid.UUID, cid: uuid.UUID, sequence: int,
                   structure: str, choice: StructureChoice | None = None) -> None:
    sent_at = datetime.now(UTC) - timedelta(hours=2)
    async with UnitOfWork(engine) as uow:
        await handlers.on_content_generated(ContentGenerated.create(ContentGeneratedPayload(
            campaign_id=cid, sequence=sequence, send_at=sent_at,
            subject=f"Spring bulbs, part {sequence}", body_html=BODY, body_text="x", model="m",
            provider="fake", structure=structure, structure_choice=choice), workspace_id=ws),
            uow)
        for person in PEOPLE:
            await handlers.on_email_sent(EmailSent.create(EmailSentPayload(
                campaign_id=cid, sequence=sequence, recipient=person, message_id="<m@x>"),
                workspace_id=ws, occurred_at=sent_at), uow)
        await uow.commit()


async def test_the_campaign_page_reports_each_email_and_link_with_a_funnel_and_rates(
    page: Page, served: Served, api_engine: AsyncEngine, original_payload: dict[str, Any],
    screenshots: Path,
) -> None:
    async with httpx.AsyncClient(base_url=served.base_url,
                                 headers={"Authorization": f"Bearer {served.key}"}) as client:
        created = await client.post("/api/campaigns/", json=original_payload)
        cid = uuid.UUID(created.json()["id"])
        ws = served.workspace_id
        for sequence, structure in ((1, "story"), (2, "list"), (3, "question")):
            await _deliver(api_engine, ws, cid, sequence, structure,
                           WHY_THIRD if sequence == 3 else None)

        async def engage(sequence: int, person: str, url: str | None, agent: str) -> None:
            tokens = SIGNER.recipient_tokens(LinkClaims(ws, cid, sequence, person))
            path = (f"/o/{tokens.open}.gif" if url is None else
                    f"/c/{tokens.click}/{SIGNER.sign_target(cid, sequence, url)}")
            response = await client.get(path, headers={"user-agent": agent})
            assert response.status_code in (200, 302)

        # Email k: 2k readers open it, k of them click the tulips; a scanner clicks the roses.
        for sequence in (1, 2, 3):
            for person in PEOPLE[:2 * sequence]:
                await engage(sequence, person, None, SAFARI)
            for person in PEOPLE[:sequence]:
                await engage(sequence, person, TULIPS, SAFARI)
            await engage(sequence, PEOPLE[9], ROSES, SCANNER)

    await page.goto(f"{served.base_url}/dashboard/campaigns/{cid}")
    emails = page.locator("#report-emails tbody tr")
    await expect(emails).to_have_count(3)
    # Delivered 10, opened 6 (60.0%), clicked 3, a 30.0% click rate, all 40.0% with the scanner.
    await expect(emails.nth(2)).to_contain_text("question")
    for cell, text in enumerate(("3", "Spring bulbs, part 3", "question", "10", "6 (60.0%)",
                                 "3", "30.0% all 40.0%", "0", "0")):
        await expect(emails.nth(2).locator("td").nth(cell)).to_have_text(text)
    links = page.locator("#report-links tbody tr")
    await expect(links).to_have_count(6)
    # Per email the tulips first (people clicked them); the roses only the scanner did.
    for cell, text in enumerate(("3", TULIPS, "3", "3", "3", "3")):
        await expect(links.nth(4).locator("td").nth(cell)).to_have_text(text)
    for cell, text in enumerate(("3", ROSES, "0", "0", "1", "1")):
        await expect(links.nth(5).locator("td").nth(cell)).to_have_text(text)
    # The funnel of people over all emails: 30 delivered, 12 opened, 6 clicked.
    funnel = page.locator("#funnel svg")
    await expect(funnel.locator("rect")).to_have_count(3)
    await expect(funnel).to_contain_text("30")
    await expect(funnel).to_contain_text("12 · 40.0%")
    await expect(funnel).to_contain_text("6 · 20.0%")
    widths = [float(await r.get_attribute("width") or 0)
              for r in await funnel.locator("rect").all()]
    assert widths[0] > widths[1] > widths[2] > 0
    # A line per rate, a point per email, the clicks climbing 10%, 20%, 30%.
    rates = page.locator("#rates svg")
    await expect(rates.locator("polyline")).to_have_count(2)
    await expect(rates.locator("circle.dot-clicked")).to_have_count(3)
    clicked = [float(await c.get_attribute("cy") or 0)
               for c in await rates.locator("circle.dot-clicked").all()]
    assert clicked[0] > clicked[1] > clicked[2]  # higher on the page is a higher rate
    await expect(rates.locator("circle.dot-clicked title").nth(2)).to_have_text(
        "Email 3: 30.0% clicked")
    # Why email 3 is a question: only it says (the others were written without a choice).
    why = page.locator("#report-why tbody tr")
    await expect(why).to_have_count(1)
    for cell, text in enumerate(("3", "question", "thompson")):
        await expect(why.locator("td").nth(cell)).to_have_text(text)
    arms = why.locator("li.arm")
    await expect(arms).to_have_count(3)
    await expect(arms.nth(0)).to_have_text("story: mean 16.7% · draw 12.5% (2.0, 10.0)")
    await expect(why.locator("li.chosen")).to_have_text(
        "question: mean 33.3% · draw 40.0% (4.0, 8.0)")
    await page.locator("#report").scroll_into_view_if_needed()
    await page.screenshot(path=str(screenshots / "campaign-report.png"), full_page=True)
