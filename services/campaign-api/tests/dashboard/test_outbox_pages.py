"""The development outbox: each workspace's mail, shown inert, paged; each page's image policy."""

from __future__ import annotations

import mailbox
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path

import httpx

NewKey = Callable[[str], Awaitable[str]]  # workspace name -> a new key of it
Dashboard = Callable[..., httpx.AsyncClient]
SignIn = Callable[[httpx.AsyncClient, str], Awaitable[str]]
CreateCampaign = Callable[[httpx.AsyncClient, str], Awaitable[str]]


def _deliver(maildir: Path, subject: str, to: str, campaign: str,
             received: float | None = None) -> str:
    """Stores a message as the sink does (as the mailer sent it for `campaign`); its key."""
    message = EmailMessage()
    message["Subject"], message["To"], message["From"] = subject, to, "news@acme.test"
    message["Date"] = "Tue, 01 Dec 2026 09:00:00 +0000"
    message["List-Id"] = f'"Spring launch" <{campaign}.acme.test>'
    message.set_content("Plain words")
    message.add_alternative("<p>Rich <script>alert(1)</script>words</p>", subtype="html")
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(exist_ok=True)
    box = mailbox.Maildir(maildir, create=False)
    key = box.add(message.as_bytes())
    if received is not None:  # when the sink stored it
        os.utime(maildir / "new" / key, (received, received))
    return key


def _campaign_id(location: str) -> str:
    return location.rsplit("/", 1)[-1].split("?")[0]


async def test_the_outbox_lists_and_shows_received_mail(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
    tmp_path: Path,
) -> None:
    key = await new_key("acme")
    async with dashboard(maildir=tmp_path) as client:
        campaign = _campaign_id(await create_campaign(client, await sign_in(client, key)))
        _deliver(tmp_path, "Hello & welcome", "ada@example.com", campaign)
        listing = await client.get("/dashboard/outbox")
        assert "Hello &amp; welcome" in listing.text
        link = re.search(r'href="(/dashboard/outbox/[^"?]+)"', listing.text)
        assert link
        message = await client.get(link.group(1))
        assert 'sandbox=""' in message.text
        # Nothing in a shown email is fetched: no open pixel fires when a developer looks.
        assert "img-src data:" in message.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in listing.headers["content-security-policy"]
        # The HTML part is only ever an attribute value: escaped, and inert in the sandbox.
        assert "<script>alert" not in message.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.text
        assert "Plain words" in message.text
        missing = await client.get("/dashboard/outbox/..%2F..%2Fetc%2Fpasswd")
        assert missing.status_code == 404


def _image_sources(response: httpx.Response) -> list[str]:
    policy = dict(d.strip().split(" ", 1) for d in
                  response.headers["content-security-policy"].split(";"))
    return policy["img-src"].split()


async def test_every_page_may_load_its_own_icon_and_a_shown_email_nothing_else(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
    tmp_path: Path,
) -> None:
    async with dashboard(maildir=tmp_path) as client:
        signin = await client.get("/dashboard/signin")
        campaign_page = await create_campaign(client, await sign_in(client, await new_key("acme")))
        key = _deliver(tmp_path, "Hi", "ada@example.com", _campaign_id(campaign_page))
        pages = [signin, await client.get("/dashboard/campaigns"),
                 await client.get(campaign_page), await client.get(f"/dashboard/outbox/{key}")]
        for page in pages:
            icon = re.search(r'<link rel="icon" href="([^"]+)"', page.text)
            assert icon, page.url
            sources = _image_sources(page)
            assert "'self'" in sources or any(
                f"http://dash{icon.group(1)}".startswith(s) for s in sources), (page.url, sources)
        # Where an email is shown, only data: and the static files: no pixel, no tracked link.
        assert _image_sources(pages[-1]) == ["data:", "http://dash/dashboard/static/"]
        assert _image_sources(pages[2]) == ["data:", "http://dash/dashboard/static/"]


async def test_each_workspace_sees_only_the_mail_of_its_own_campaigns(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
    tmp_path: Path,
) -> None:
    async with (dashboard(maildir=tmp_path) as acme,
                dashboard(maildir=tmp_path) as other):
        ours = _campaign_id(await create_campaign(acme, await sign_in(acme, await new_key("acme"))))
        theirs = _campaign_id(await create_campaign(
            other, await sign_in(other, await new_key("globex"))))
        _deliver(tmp_path, "For acme", "ada@example.com", ours)
        foreign = _deliver(tmp_path, "For globex", "grace@example.org", theirs)
        _deliver(tmp_path, "For nobody we know", "x@example.net", str(uuid.uuid4()))
        listing = (await acme.get("/dashboard/outbox")).text
        assert "For acme" in listing
        assert "For globex" not in listing
        assert "For nobody" not in listing
        # Its unsubscribe and tracking links stay with its own workspace.
        assert (await acme.get(f"/dashboard/outbox/{foreign}")).status_code == 404
        assert (await other.get(f"/dashboard/outbox/{foreign}")).status_code == 200
        assert "For acme" not in (await other.get("/dashboard/outbox")).text


async def test_the_outbox_pages_newest_first(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
    tmp_path: Path,
) -> None:
    async with dashboard(maildir=tmp_path) as client:
        campaign = _campaign_id(await create_campaign(
            client, await sign_in(client, await new_key("acme"))))
        # Received one second apart, stored in a shuffled order.
        order = [37, 3, 59, 0, 12, 44, 25, 51, 8, 30] + [
            n for n in range(60) if n not in {37, 3, 59, 0, 12, 44, 25, 51, 8, 30}]
        for n in order:
            _deliver(tmp_path, f"Email number {n:02d}", "ada@example.com", campaign,
                     received=1_800_000_000 + n)
        seen: list[str] = []
        path = "/dashboard/outbox"
        for _ in range(5):  # more pages than there are, to see that paging ends
            page = (await client.get(path)).text
            seen += re.findall(r"Email number (\d\d)", page)
            older = re.search(r'href="(\?before=[^"]+)"', page)
            if older is None:
                break
            path = "/dashboard/outbox" + older.group(1).replace("&amp;", "&")
        assert seen == [f"{n:02d}" for n in range(59, -1, -1)]
        first = (await client.get("/dashboard/outbox")).text
        assert len(re.findall(r"Email number", first)) == 50
        # A new message heads the first page at once; an unknown cursor starts over.
        _deliver(tmp_path, "Email number 99", "ada@example.com", campaign,
                 received=1_800_000_100)
        assert re.findall(r"Email number (\d\d)", (await client.get(
            "/dashboard/outbox?before=no-such-key")).text)[:2] == ["99", "59"]


async def test_without_the_sink_there_is_no_outbox(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        await sign_in(client, key)
        assert (await client.get("/dashboard/outbox")).status_code == 404
        assert ">Outbox<" not in (await client.get("/dashboard/campaigns")).text
