"""The Contacts page, a contact's profile and timeline, the Lists and custom fields pages."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.schemas_segments import SegmentCreate
from campaign_api.usecases import accounts, contacts, segments

NewKey = Callable[[str], Awaitable[str]]
Dashboard = Callable[..., httpx.AsyncClient]
SignIn = Callable[[httpx.AsyncClient, str], Awaitable[str]]
CreateCampaign = Callable[[httpx.AsyncClient, str], Awaitable[str]]
Seed = Callable[..., Awaitable[uuid.UUID]]
SeedHistory = Callable[..., Awaitable[None]]


def _emails(html: str) -> list[str]:
    return re.findall(r'<a href="/dashboard/contacts/[0-9a-f-]+">([^<]+)</a>', html)


async def _workspace(engine: AsyncEngine, key: str) -> uuid.UUID:
    found = await accounts.authenticate(engine, key)
    assert found is not None
    return found


async def test_contacts_are_searched_by_prefix_and_filtered_by_tag_status_and_list(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, seed_contacts: Seed,
    api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    workspace = await _workspace(api_engine, key)
    garden = await seed_contacts(workspace, count=5)
    async with dashboard() as client:
        await sign_in(client, key)
        everyone = await client.get("/dashboard/contacts")
        assert _emails(everyone.text) == [f"person{i}@example.com" for i in range(5)]
        assert _emails((await client.get("/dashboard/contacts?q=PERSON 3")).text) == [
            "person3@example.com"]  # the name's prefix, whatever the case
        assert _emails((await client.get("/dashboard/contacts?tag=vip")).text) == [
            "person0@example.com", "person2@example.com", "person4@example.com"]
        assert _emails((await client.get(f"/dashboard/contacts?list={garden}")).text) == [
            "person0@example.com"]
        assert _emails((await client.get("/dashboard/contacts?status=bounced")).text) == []
        bad = await client.get("/dashboard/contacts?status=lost&list=nope")
        assert bad.status_code == 422
        assert 'id="status-error"' in bad.text
        assert 'id="list-error"' in bad.text


async def test_contacts_come_in_cursor_pages_keeping_the_filters(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, seed_contacts: Seed,
    api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    await seed_contacts(await _workspace(api_engine, key), count=120)
    async with dashboard() as client:
        await sign_in(client, key)
        seen: list[str] = []
        url: str | None = "/dashboard/contacts?tag=vip"
        while url:
            page = (await client.get(url)).text
            seen += _emails(page)
            found = re.search(r'id="next-page" href="([^"]+)"', page)
            url = "/dashboard/contacts" + found.group(1).replace("&amp;", "&") if found else None
        assert seen == sorted(f"person{i}@example.com" for i in range(0, 120, 2))


async def test_bulk_actions_tag_and_list_the_selected_contacts_only(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, seed_contacts: Seed,
    api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    workspace = await _workspace(api_engine, key)
    garden = await seed_contacts(workspace, count=4)
    ids = {c.email: c.id for c in (await contacts.search_contacts(api_engine, workspace)).items}
    chosen = [str(ids["person1@example.com"]), str(ids["person3@example.com"])]
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        tagged = await client.post("/dashboard/contacts/bulk", data={
            "csrf_token": csrf, "action": "add_tag", "new_tag": "spring", "contact_id": chosen,
            "q": "", "tag": "", "status": "", "list": ""})
        assert tagged.status_code == 303
        page = await client.get(tagged.headers["location"])
        assert "The tag was added" in page.text
        assert _emails((await client.get("/dashboard/contacts?tag=spring")).text) == [
            "person1@example.com", "person3@example.com"]
        listed = await client.post("/dashboard/contacts/bulk", data={
            "csrf_token": csrf, "action": "add_to_list", "list_id": str(garden),
            "contact_id": chosen, "tag": "vip"})
        assert listed.status_code == 303
        assert "tag=vip" in listed.headers["location"]  # back to the filtered page
        assert _emails((await client.get(f"/dashboard/contacts?list={garden}")).text) == [
            "person0@example.com", "person1@example.com", "person3@example.com"]
        await client.post("/dashboard/contacts/bulk", data={
            "csrf_token": csrf, "action": "remove_from_list", "list_id": str(garden),
            "contact_id": chosen[:1]})
        await client.post("/dashboard/contacts/bulk", data={
            "csrf_token": csrf, "action": "remove_tag", "new_tag": "spring",
            "contact_id": chosen[1:]})
        assert _emails((await client.get(f"/dashboard/contacts?list={garden}")).text) == [
            "person0@example.com", "person3@example.com"]
        assert _emails((await client.get("/dashboard/contacts?tag=spring")).text) == [
            "person1@example.com"]
        nothing = await client.post("/dashboard/contacts/bulk", data={
            "csrf_token": csrf, "action": "add_tag", "new_tag": "x"})
        assert nothing.status_code == 422
        assert "Select at least one contact" in nothing.text


async def test_a_bulk_action_reaches_no_other_workspaces_contacts_or_lists(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, seed_contacts: Seed,
    api_engine: AsyncEngine,
) -> None:
    theirs_key = await new_key("rival")
    rival = await _workspace(api_engine, theirs_key)
    their_list = await seed_contacts(rival, count=2)
    their_ids = [str(c.id) for c in (await contacts.search_contacts(api_engine, rival)).items]
    key = await new_key("acme")
    ours = await seed_contacts(await _workspace(api_engine, key), count=1)
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        await client.post("/dashboard/contacts/bulk", data={
            "csrf_token": csrf, "action": "add_tag", "new_tag": "stolen",
            "contact_id": their_ids})
        into_theirs = await client.post("/dashboard/contacts/bulk", data={
            "csrf_token": csrf, "action": "add_to_list", "list_id": str(their_list),
            "contact_id": their_ids})
        assert into_theirs.status_code == 422
        await client.post("/dashboard/contacts/bulk", data={
            "csrf_token": csrf, "action": "add_to_list", "list_id": str(ours),
            "contact_id": their_ids})
    assert all("stolen" not in c.tags
               for c in (await contacts.search_contacts(api_engine, rival)).items)
    assert len((await contacts.search_contacts(api_engine, rival, list_id=their_list)).items) == 1
    assert (await contacts.search_contacts(api_engine, rival, list_id=ours)).items == []


async def test_the_profile_shows_fields_lists_consents_and_the_timeline_across_campaigns(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
    seed_contacts: Seed, seed_history: SeedHistory, api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    workspace = await _workspace(api_engine, key)
    await seed_contacts(workspace, count=1)
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        first = uuid.UUID((await create_campaign(client, csrf)).split("?")[0].rsplit("/", 1)[1])
        second = uuid.UUID((await create_campaign(client, csrf)).split("?")[0].rsplit("/", 1)[1])
        await seed_history(workspace, first, "ada@example.com", "grace@example.org")
        await seed_history(workspace, second, "grace@example.org", "ada@example.com")
        ada = (await contacts.search_contacts(api_engine, workspace, q="ada")).items[0]
        page = (await client.get(f"/dashboard/contacts/{ada.id}")).text
        kinds = re.findall(r'data-kind="(\w+)"', page)
        assert sorted(kinds) == ["bounced", "click", "open", "sent"]
        assert page.count(f'href="/dashboard/campaigns/{first}"') == 3  # sent, open, click
        assert page.count(f'href="/dashboard/campaigns/{second}"') == 1  # the bounce
        assert "550 5.1.1 no such user" in page
        assert "https://example.com/planner" in page
        person = (await contacts.search_contacts(api_engine, workspace, q="person0")).items[0]
        profile = (await client.get(f"/dashboard/contacts/{person.id}")).text
        facts = profile[profile.index('id="profile"'):profile.index('id="tags"')]
        assert re.search(r">Plan</dt>\s*<dd>pro</dd>", facts)
        assert re.search(r">Seats</dt>\s*<dd>0</dd>", facts)
        assert "Gardeners" in profile[profile.index('id="lists"'):]
        consents = profile[profile.index('id="consents"'):profile.index('id="contact-timeline"')]
        assert "consent" in consents
        assert "Nothing sent to this address yet" in profile
        assert "not enough opens yet" in facts


async def test_the_profile_shows_the_contacts_learned_best_hours(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, seed_contacts: Seed,
    api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    workspace = await _workspace(api_engine, key)
    await seed_contacts(workspace, count=2)
    found = {c.email: c.id for c in (await contacts.search_contacts(api_engine, workspace)).items}
    async with api_engine.begin() as conn:
        await db.store_send_hours(conn, workspace, [
            ("person0@example.com", [19] * 7), ("person1@example.com", [8, 8, 8, 8, 8, 10, 21])])
    async with dashboard() as client:
        await sign_in(client, key)
        every_day = (await client.get(f"/dashboard/contacts/{found['person0@example.com']}")).text
        assert re.search(r'id="send-hours">19:00 every day</dd>', every_day)
        by_day = (await client.get(f"/dashboard/contacts/{found['person1@example.com']}")).text
        assert re.search(r'id="send-hours">Mon 08:00 · .* · Sat 10:00 · Sun 21:00</dd>', by_day)


async def test_another_workspaces_contact_is_not_found(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, seed_contacts: Seed,
    api_engine: AsyncEngine,
) -> None:
    rival = await _workspace(api_engine, await new_key("rival"))
    await seed_contacts(rival, count=1)
    theirs = (await contacts.search_contacts(api_engine, rival)).items[0]
    async with dashboard() as client:
        await sign_in(client, await new_key("acme"))
        assert (await client.get(f"/dashboard/contacts/{theirs.id}")).status_code == 404
        assert (await client.get("/dashboard/contacts/not-an-id")).status_code == 404


async def test_lists_are_created_renamed_counted_and_link_to_their_contacts(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, seed_contacts: Seed,
    api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    garden = await seed_contacts(await _workspace(api_engine, key), count=2)
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        empty = await client.post("/dashboard/lists", data={"csrf_token": csrf, "name": " "})
        assert empty.status_code == 422
        assert 'id="name-error"' in empty.text
        made = await client.post("/dashboard/lists", data={"csrf_token": csrf,
                                                           "name": "Newsletter"})
        assert made.status_code == 303
        renamed = await client.post(f"/dashboard/lists/{garden}/rename",
                                    data={"csrf_token": csrf, "name": "Growers"})
        assert renamed.status_code == 303
        page = (await client.get(renamed.headers["location"])).text
        assert "List renamed" in page
        rows = re.findall(r'<a href="/dashboard/contacts\?list=([0-9a-f-]+)">([^<]+)</a>.*?'
                          r'class="members">(\d+)<', page, re.S)
        assert [(name, members) for _, name, members in rows] == [("Growers", "1"),
                                                                  ("Newsletter", "0")]
        assert rows[0][0] == str(garden)


async def test_custom_fields_are_declared_with_a_type_and_refused_by_field(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn,
) -> None:
    async with dashboard() as client:
        csrf = await sign_in(client, await new_key("acme"))
        made = await client.post("/dashboard/fields", data={
            "csrf_token": csrf, "key": "renewal", "label": "Renewal date", "type": "date"})
        assert made.status_code == 303
        page = (await client.get("/dashboard/fields")).text
        assert re.search(r"<code>renewal</code></td><td>Renewal date</td><td>"
                         r"<span class=\"badge plain\">date</span>", page)
        bad_key = await client.post("/dashboard/fields", data={
            "csrf_token": csrf, "key": "9lives", "type": "text"})
        assert bad_key.status_code == 422
        assert 'id="key-error"' in bad_key.text
        bad_type = await client.post("/dashboard/fields", data={
            "csrf_token": csrf, "key": "x", "type": "colour"})
        assert 'id="type-error"' in bad_type.text
        retyped = await client.post("/dashboard/fields", data={
            "csrf_token": csrf, "key": "renewal", "type": "number"})
        assert retyped.status_code == 422
        assert "declared as date" in retyped.text


async def test_the_profile_names_the_segments_the_contact_is_in_after_a_refresh(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, seed_contacts: Seed,
    api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    workspace = await _workspace(api_engine, key)
    await seed_contacts(workspace, count=2)
    vips = await segments.create_segment(api_engine, workspace, SegmentCreate(
        name="VIPs", rule={"tag": "vip"}))
    await segments.create_segment(api_engine, workspace, SegmentCreate(
        name="Nobody", rule={"tag": "nobody"}))
    while await segments.refresh_due_segment(api_engine, timedelta(minutes=5)):
        pass
    found = {c.email: c.id for c in (await contacts.search_contacts(api_engine,
                                                                      workspace)).items}
    async with dashboard() as client:
        await sign_in(client, key)
        vip = (await client.get(f"/dashboard/contacts/{found['person0@example.com']}")).text
        other = (await client.get(f"/dashboard/contacts/{found['person1@example.com']}")).text
    held = vip[vip.index('id="segments"'):vip.index('id="consents"')]
    assert re.findall(r'href="/dashboard/segments/([0-9a-f-]+)">([^<]+)<', held) == [
        (str(vips.id), "VIPs")]
    assert "In no segment" in other
