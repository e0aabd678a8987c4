"""A campaign's audience page: the CSV import's report, and who unsubscribed or bounced."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import handlers, usecases
from campaign_api.usecases import accounts
from contracts import EmailFailed
from contracts.events import EmailFailedPayload
from contracts.links import LinkClaims, LinkSigner
from servicekit.db import UnitOfWork

NewKey = Callable[[str], Awaitable[str]]  # workspace name -> a new key of it
Dashboard = Callable[..., httpx.AsyncClient]
SignIn = Callable[[httpx.AsyncClient, str], Awaitable[str]]
CreateCampaign = Callable[[httpx.AsyncClient, str], Awaitable[str]]


async def test_csv_import_reports_rejected_rows(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        base = (await create_campaign(client, csrf)).split("?")[0]
        csv = b"email,name,Company\nlin@example.net,Linus,Kernel\nbroken,No,One\n"
        response = await client.post(
            f"{base}/recipients/import",
            data={"csrf_token": csrf}, files={"file": ("people.csv", csv, "text/csv")})
        assert response.status_code == 200, response.text
        report = response.text[response.text.index('id="import-report"'):]
        assert "people.csv" in report
        assert re.search(r"<dt>Added</dt><dd>1</dd>", report)
        assert re.search(r"<dt>Rejected</dt><dd>1</dd>", report)
        assert "<td>3</td>" in report  # the bad row's line, header being line 1
        assert "lin@example.net" in response.text


async def test_the_audience_marks_who_unsubscribed_or_bounced(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
    api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        base = (await create_campaign(client, csrf)).split("?")[0]
        workspace = await accounts.authenticate(api_engine, key)
        assert workspace is not None
        signer = LinkSigner("k" * 40)
        await usecases.unsubscribe(api_engine, signer, signer.sign("unsubscribe", LinkClaims(
            workspace_id=workspace, campaign_id=uuid.UUID(base.rsplit("/", 1)[1]), sequence=1,
            email="grace@example.org")))
        rows = re.findall(r"<tr( class=\"unsubscribed\")?><td>([^<\s]+)",
                          (await client.get(f"{base}/audience")).text)
        assert rows == [("", "ada@example.com"), (' class="unsubscribed"', "grace@example.org")]
        async with UnitOfWork(api_engine) as uow:
            await handlers.on_email_failed(EmailFailed.create(EmailFailedPayload(
                campaign_id=uuid.UUID(base.rsplit("/", 1)[1]), sequence=1,
                recipient="ada@example.com", permanent=True, smtp_code=550,
                reason="550 5.1.1 no such user"), workspace_id=workspace), uow)
            await uow.commit()
        page = (await client.get(f"{base}/audience")).text
        ada = page[page.index("<td>ada@example.com"):page.index("<td>grace@example.org")]
        assert ">Bounced</span>" in ada
        assert ">Unsubscribed</span>" not in ada
