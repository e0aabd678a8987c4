"""Signing in to the dashboard: sessions, their cookie, CSRF, sign-out and the limit on failures."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api.dashboard.auth import COOKIE
from campaign_api.usecases import accounts

NewKey = Callable[[str], Awaitable[str]]  # workspace name -> a new key of it
Dashboard = Callable[..., httpx.AsyncClient]
SignIn = Callable[[httpx.AsyncClient, str], Awaitable[str]]
CsrfOf = Callable[[str], str]


async def test_pages_need_a_session(dashboard: Dashboard) -> None:
    async with dashboard() as client:
        for path in ("/dashboard/campaigns", "/dashboard/campaigns/new",
                     f"/dashboard/campaigns/{uuid.uuid4()}", "/dashboard/api/schedule-preview"):
            response = await client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == "/dashboard/signin"


async def test_signing_in_sets_a_protected_session_cookie(
    new_key: NewKey, dashboard: Dashboard, csrf_of: CsrfOf,
) -> None:
    key = await new_key("acme")
    async with dashboard(base_url="https://dash") as client:
        page = await client.get("/dashboard/signin")
        wrong = await client.post("/dashboard/signin",
                                  data={"csrf_token": csrf_of(page.text), "api_key": "cb_nope"})
        assert wrong.status_code == 401
        assert "not valid" in wrong.text
        ok = await client.post("/dashboard/signin",
                               data={"csrf_token": csrf_of(page.text), "api_key": key})
        assert ok.status_code == 303
        cookie = ok.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        for flag in ("HttpOnly", "SameSite=lax", "Secure", "Path=/dashboard"):
            assert flag.lower() in cookie.lower(), flag
        assert key not in cookie


async def test_a_form_without_the_session_token_is_refused(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, campaign_form: dict[str, Any],
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        forged = await client.post("/dashboard/campaigns/new",
                                   data={**campaign_form, "csrf_token": "x" * 43})
        assert forged.status_code == 403
        missing = await client.post("/dashboard/campaigns/new", data=campaign_form)
        assert missing.status_code == 403
        cross_site = await client.post(
            "/dashboard/campaigns/new", data={**campaign_form, "csrf_token": csrf},
            headers={"Origin": "https://evil.example"})
        assert cross_site.status_code == 403
        listing = await client.get("/dashboard/campaigns")
        assert "No campaigns yet" in listing.text


async def test_sign_in_itself_needs_the_token(new_key: NewKey, dashboard: Dashboard) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        response = await client.post("/dashboard/signin", data={"api_key": key})
        assert response.status_code == 403


async def test_a_tampered_cookie_is_no_session(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        await sign_in(client, key)
        value = client.cookies[COOKIE]
        middle = len(value) // 3  # inside the (compressed) payload, before the signature
        tampered = value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1:]
        client.cookies.clear()
        client.cookies.set(COOKIE, tampered)
        response = await client.get("/dashboard/campaigns")
        assert response.status_code == 303


async def test_revoking_the_key_ends_its_sessions(
    dashboard: Dashboard, sign_in: SignIn, api_engine: AsyncEngine,
) -> None:
    ws = await accounts.create_workspace(api_engine, "acme")
    created = await accounts.create_api_key(api_engine, ws.id, "soon revoked")
    async with dashboard() as client:
        await sign_in(client, created.key)
        await accounts.revoke_api_key(api_engine, ws.id, created.id)
        response = await client.get("/dashboard/campaigns")
        assert response.status_code == 303


async def test_a_cookie_saved_before_signing_out_no_longer_opens_the_dashboard(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        saved = client.cookies[COOKIE]
        out = await client.post("/dashboard/signout", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert (await client.get("/dashboard/campaigns")).status_code == 303
        client.cookies.clear()
        client.cookies.set(COOKIE, saved, path="/dashboard")
        replayed = await client.get("/dashboard/campaigns")
        assert replayed.status_code == 303
        assert replayed.headers["location"] == "/dashboard/signin"
        # The sign-in page offers a fresh sign-in instead of bouncing to the campaigns.
        page = await client.get("/dashboard/signin")
        assert page.status_code == 200
        assert "Sign in" in page.text
        # Signing in again starts a new session; the key itself still works.
        await sign_in(client, key)


async def test_failed_sign_ins_are_limited_per_client_address(
    new_key: NewKey, dashboard: Dashboard, csrf_of: CsrfOf,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        page = await client.get("/dashboard/signin")
        form = {"csrf_token": csrf_of(page.text), "api_key": "cb_wrong"}
        answers = [(await client.post("/dashboard/signin", data=form)).status_code
                   for _ in range(12)]
        assert answers == [401] * 10 + [429] * 2  # past the default burst of failures
        limited = await client.post("/dashboard/signin", data={**form, "api_key": key})
        # Even the right key waits: a guess must not be confirmed while limited.
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert "Too many failed sign-ins" in limited.text
