"""Waiting for a service process that a test or a benchmark started to say it is ready."""

from __future__ import annotations

import asyncio

import httpx


class ServiceExitedError(Exception):
    """The process exited before it was ready."""

    def __init__(self, returncode: int) -> None:
        super().__init__(f"exited with code {returncode}")
        self.returncode = returncode


async def until_ready(url: str, process: asyncio.subprocess.Process) -> None:
    """Poll `url`'s /readyz until it answers 200; raise `ServiceExitedError` if the process exits
    first. It has no deadline of its own: the caller bounds it (`asyncio.timeout`) and says
    what a timeout means."""
    async with httpx.AsyncClient(base_url=url, timeout=1.0) as client:
        while True:
            if process.returncode is not None:
                raise ServiceExitedError(process.returncode)
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
