"""Behind a TLS proxy, served by uvicorn as the runtime configures it: X-Forwarded-Proto and
X-Forwarded-For count only from the addresses FORWARDED_ALLOW_IPS names."""

from __future__ import annotations

import httpx

from campaign_api.dashboard.auth import COOKIE

from .conftest import Serve


def _session_cookie(response: httpx.Response) -> str:
    (cookie,) = [c for c in response.headers.get_list("set-cookie") if c.startswith(COOKIE)]
    return cookie.lower()


async def test_a_trusted_proxy_forwarding_https_gets_a_secure_cookie(served: Serve) -> None:
    async with served("127.0.0.1") as client:
        page = await client.get("/dashboard/signin", headers={"X-Forwarded-Proto": "https"})
    assert page.status_code == 200
    assert "; secure" in _session_cookie(page)


async def test_an_untrusted_peer_claiming_https_gets_no_secure_cookie(served: Serve) -> None:
    async with served("192.0.2.10") as client:
        page = await client.get("/dashboard/signin", headers={"X-Forwarded-Proto": "https"})
    assert page.status_code == 200
    assert "secure" not in _session_cookie(page)


async def test_failures_count_per_forwarded_address_only_behind_a_trusted_proxy(
        served: Serve) -> None:
    wrong = {"Authorization": "Bearer cb_wrong"}

    async def answers(client: httpx.AsyncClient, client_address: str) -> list[int]:
        headers = {**wrong, "X-Forwarded-For": client_address}
        return [(await client.get("/api/workspace", headers=headers)).status_code
                for _ in range(3)]

    async with served("127.0.0.1", auth_failure_burst=2) as client:
        assert await answers(client, "198.51.100.1") == [401, 401, 429]
        assert await answers(client, "198.51.100.2") == [401, 401, 429]
    # From an untrusted peer the header is ignored: every guess counts against the peer.
    async with served("192.0.2.10", auth_failure_burst=2) as client:
        assert await answers(client, "198.51.100.1") == [401, 401, 429]
        assert await answers(client, "198.51.100.2") == [429, 429, 429]
