"""The operator's commands: create a workspace, then a key that works against the API."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import usecases
from campaign_api.app import create_app
from testkit.fixtures import CreateDatabase


async def _command(*args: str, env: dict[str, str], cwd: Path | None = None,
                   ) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "campaign_api", *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def _run(url: str, *args: str) -> str:
    code, out, err = await _command(*args, env={**os.environ, "CAMPAIGN_API_DATABASE_URL": url})
    assert code == 0, err
    return out.strip().splitlines()[-1]


def _without_database() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "CAMPAIGN_API_DATABASE_URL")}


def _beside_a_stack(folder: Path, url: str) -> Path:
    """A folder where `make up` runs: it wrote where its database is into .data."""
    (folder / ".data").mkdir()
    (folder / ".data" / "campaign-api.env").write_text(f"CAMPAIGN_API_DATABASE_URL='{url}'\n")
    return folder


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


async def test_create_key_beside_the_development_stack_finds_its_database(
        api_engine: AsyncEngine, tmp_path: Path) -> None:
    url = api_engine.url.render_as_string(hide_password=False)
    code, out, err = await _command("create-key", "--workspace", "dev",
                                    env=_without_database(), cwd=_beside_a_stack(tmp_path, url))
    assert code == 0, err
    key = out.strip().splitlines()[-1]
    assert await usecases.authenticate(api_engine, key) is not None


async def test_create_key_without_a_database_says_so_in_one_line(tmp_path: Path) -> None:
    code, out, err = await _command("create-key", env=_without_database(), cwd=tmp_path)
    assert code == 1
    assert out == ""
    (line,) = err.strip().splitlines()
    assert "DATABASE_URL" in line
    assert "make up" in line


async def test_create_key_when_the_stack_is_stopped_says_so_in_one_line(tmp_path: Path) -> None:
    gone = f"postgresql://postgres@/campaign_api?host={tmp_path / 'no-socket-here'}"
    code, _, err = await _command("create-key", env=_without_database(),
                                  cwd=_beside_a_stack(tmp_path, gone))
    assert code == 1
    (line,) = err.strip().splitlines()
    assert "cannot reach the database" in line
    assert "Is `make up` running?" in line


async def test_create_key_on_a_database_never_migrated_says_what_to_run(
        migrated_database: CreateDatabase, tmp_path: Path) -> None:
    url = await migrated_database("scheduler")  # a database without campaign-api's tables
    code, _, err = await _command("create-key", env={**_without_database(),
                                                     "CAMPAIGN_API_DATABASE_URL": url},
                                  cwd=tmp_path)
    assert code == 1
    (line,) = err.strip().splitlines()
    assert "campaign-api migrate" in line
