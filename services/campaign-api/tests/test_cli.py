"""The operator's commands: create a workspace, then a key that works against the API."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api.app import create_app


async def _run(url: str, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "campaign_api", *args,
        env={**os.environ, "CAMPAIGN_API_DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode().strip().splitlines()[-1]


async def test_create_workspace_then_a_key(api_engine: AsyncEngine) -> None:
    url = api_engine.url.render_as_string(hide_password=False)
    workspace_id = uuid.UUID(await _run(url, "create-workspace", "initech"))
    assert uuid.UUID(await _run(url, "create-workspace", "initech")) == workspace_id  # found
    key = await _run(url, "create-key", "--workspace", "initech", "--name", "ops")
    transport = httpx.ASGITransport(app=create_app(api_engine, []))
    async with httpx.AsyncClient(transport=transport, base_url="http://api",
                                 headers={"Authorization": f"Bearer {key}"}) as client:
        workspace = (await client.get("/api/workspace")).json()
        assert (workspace["id"], workspace["name"]) == (str(workspace_id), "initech")
        assert [k["name"] for k in (await client.get("/api/keys")).json()] == ["ops"]
