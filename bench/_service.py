"""Running one service process in a benchmark: start-up wait, its log, its peak memory."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from testkit.readiness import ServiceExitedError, until_ready


def profiled(variable: str) -> list[str]:
    """Interpreter arguments that run the service under cProfile when `variable` names a file."""
    path = os.environ.get(variable)
    return ["-m", "cProfile", "-o", path] if path else []


async def wait_ready(url: str, process: asyncio.subprocess.Process, log: Path, *,
                     name: str) -> None:
    try:
        async with asyncio.timeout(30):
            await until_ready(url, process)
    except (TimeoutError, ServiceExitedError):
        raise RuntimeError(f"{name} not ready:\n{tail(log)}") from None


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:]


def peak_memory_mib(pid: int) -> float:
    """The process's VmHWM: its resident-memory high-water mark, read before it exits."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")
