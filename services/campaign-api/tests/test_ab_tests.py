"""A/B tests in campaign-api: the setting on the campaign, each variant's sends and people's
engagement counted apart through the real tracking routes, the decision after the window
published once through the outbox, an operator's pick, and the report per variant."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import handlers
from campaign_api.usecases.ab_tests import decide_due_test
from contracts import AbTest, ContentGenerated, EmailSent, EmailVariant, deterministic_id
from contracts.events import ContentGeneratedPayload, EmailSentPayload
from contracts.links import LinkClaims, LinkSigner
from servicekit.db import UnitOfWork

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]
SIGNER = LinkSigner("k" * 40)  # the key the test settings verify with
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
URL = "https://shop.example/tulips"
SLICE_A = [f"a{i}@example.com" for i in range(40)]
SLICE_B = [f"b{i}@example.com" for i in range(40)]
WINDOW = timedelta(minutes=30)


class EmailUnderTest:
    """Email 1 of a campaign in subject variants A and B, each sent to its 40 addresses."""

    def __init__(self, client: httpx.AsyncClient, workspace_id: uuid.UUID,
                 campaign_id: uuid.UUID, send_at: datetime) -> None:
        self.client, self.workspace_id, self.campaign_id = client, workspace_id, campaign_id
        self.send_at = send_at

    async def click(self, person: str) -> None:
        token = SIGNER.recipient_tokens(LinkClaims(self.workspace_id, self.campaign_id, 1,
                                                   person)).click
        target = SIGNER.sign_target(self.campaign_id, 1, URL)
        response = await self.client.get(f"/c/{token}/{target}", headers={"user-agent": SAFARI})
        assert response.status_code == 302

    async def tests(self) -> list[dict[str, Any]]:
        response = await self.client.get(f"/api/campaigns/{self.campaign_id}/ab-tests")
        assert response.status_code == 200
        return list(response.json())

    async def pick(self, variant: object, sequence: int = 1) -> httpx.Response:
        return await self.client.post(
            f"/api/campaigns/{self.campaign_id}/emails/{sequence}/ab-test/winner",
            json={"variant": variant})


@pytest.fixture
async def tested(api_client: MakeClient, api_engine: AsyncEngine,
                 original_payload: dict[str, Any]) -> EmailUnderTest:
    client = await api_client()
    test = {"sequences": [1], "variants": 2, "metric": "clicks", "slice_percent": 10,
            "window_minutes": WINDOW.total_seconds() / 60}
    created = await client.post("/api/campaigns/", json=original_payload | {"ab_test": test})
    assert created.status_code == 201, created.text
    assert created.json()["ab_test"]["window_minutes"] == 30
    campaign_id = uuid.UUID(created.json()["id"])
    workspace_id = uuid.UUID((await client.get("/api/workspace")).json()["id"])
    send_at = datetime.now(UTC) - timedelta(minutes=10)
    async with UnitOfWork(api_engine) as uow:
        await handlers.on_content_generated(ContentGenerated.create(ContentGeneratedPayload(
            campaign_id=campaign_id, sequence=1, send_at=send_at, subject="Tulips are in",
            body_html=f'<a href="{URL}">tulips</a>', body_text="x", model="m", provider="fake",
            ab_test=AbTest.model_validate(test),
            variants=[EmailVariant(key="A", subject="Tulips are in"),
                      EmailVariant(key="B", subject="Seen our tulips?")]),
            workspace_id=workspace_id), uow)
        for variant, people in (("A", SLICE_A), ("B", SLICE_B)):
            for person in people:
                await handlers.on_email_sent(EmailSent.create(EmailSentPayload(
                    campaign_id=campaign_id, sequence=1, recipient=person, message_id="<m@x>",
                    variant=variant), workspace_id=workspace_id, occurred_at=send_at), uow)
        await uow.commit()
    return EmailUnderTest(client, workspace_id, campaign_id, send_at)


async def test_a_campaign_refuses_an_invalid_test_naming_the_field(
    api_client: MakeClient, original_payload: dict[str, Any]
) -> None:
    client = await api_client()

    response = await client.post("/api/campaigns/", json=original_payload | {
        "ab_test": {"variants": 4, "slice_percent": 30}})

    assert response.status_code == 422
    assert any("slice_percent" in e["field"] for e in response.json()["errors"]), response.json()


async def test_each_variant_counts_its_own_sends_and_peoples_clicks(
    tested: EmailUnderTest,
) -> None:
    for person in SLICE_A[:2] + SLICE_B[:9]:
        await tested.click(person)

    [test] = await tested.tests()

    assert (test["status"], test["winner"], test["metric"]) == ("testing", None, "clicks")
    a, b = test["variants"]
    assert (a["key"], a["subject"], a["delivered"], a["unique_human_clicks"]) == (
        "A", "Tulips are in", 40, 2)
    assert (b["key"], b["delivered"], b["unique_human_clicks"]) == ("B", 40, 9)
    assert b["rate"] == 9 / 40


async def test_the_winner_is_decided_after_the_window_and_published_once(
    tested: EmailUnderTest, api_engine: AsyncEngine, outbox_events: ReadOutbox,
) -> None:
    for person in SLICE_A[:1] + SLICE_B[:10]:
        await tested.click(person)

    assert await decide_due_test(api_engine) is None  # the window is not over yet
    after = tested.send_at + WINDOW + timedelta(seconds=1)
    assert await decide_due_test(api_engine, now=after) == "decided"
    assert await decide_due_test(api_engine, now=after + WINDOW) is None

    [event] = await outbox_events("ab_test.decided")
    assert event["event_id"] == str(deterministic_id("ab_test.decided", tested.campaign_id, 1))
    p = event["payload"]
    assert (p["winner"], p["rule"], p["metric"], p["sequence"]) == ("B", "probability",
                                                                    "clicks", 1)
    assert [(r["key"], r["delivered"], r["successes"]) for r in p["results"]] == [
        ("A", 40, 1), ("B", 40, 10)]
    [test] = await tested.tests()
    assert (test["status"], test["winner"], test["rule"]) == ("decided", "B", "probability")
    assert test["variants"][1]["probability_best"] >= 0.95
    # The operator can no longer pick.
    response = await tested.pick("A")
    assert response.status_code == 409
    assert "decided already" in response.json()["detail"]


async def test_an_operator_picks_the_winner_before_the_window_ends(
    tested: EmailUnderTest, api_engine: AsyncEngine, outbox_events: ReadOutbox,
) -> None:
    response = await tested.pick("A")

    assert response.status_code == 200, response.text
    assert (response.json()["winner"], response.json()["rule"]) == ("A", "operator")
    [event] = await outbox_events("ab_test.decided")
    assert (event["payload"]["winner"], event["payload"]["rule"]) == ("A", "operator")
    # The decider finds nothing left to decide once the window is over.
    later = tested.send_at + WINDOW * 2
    assert await decide_due_test(api_engine, now=later) is None
    assert len(await outbox_events("ab_test.decided")) == 1


@pytest.mark.parametrize(("variant", "sequence", "status", "field"), [
    ("C", 1, 422, "variant"),  # the test has A and B only
    ("E", 1, 422, "variant"),  # no such key at all
    ("A", 2, 404, None),  # email 2 is not under a test
])
async def test_a_pick_that_cannot_be_made_is_refused(
    tested: EmailUnderTest, variant: str, sequence: int, status: int, field: str | None,
) -> None:
    response = await tested.pick(variant, sequence)

    assert response.status_code == status, response.text
    if field is not None:
        assert any(field in e["field"] for e in response.json()["errors"]), response.json()


async def test_the_campaign_report_shows_each_variant(tested: EmailUnderTest) -> None:
    await tested.click(SLICE_B[0])

    response = await tested.client.get(f"/api/campaigns/{tested.campaign_id}/report")

    assert response.status_code == 200
    [test] = response.json()["ab_tests"]
    assert [(v["key"], v["delivered"], v["unique_human_clicks"]) for v in test["variants"]] == [
        ("A", 40, 0), ("B", 40, 1)]
