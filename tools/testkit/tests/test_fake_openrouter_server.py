"""Serving: concurrency, start/stop, and running as a separate process."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from testkit.fake_openrouter import FakeOpenRouter, Hang


async def test_slow_requests_are_served_concurrently(fake: FakeOpenRouter) -> None:
    fake.latency = 1.0
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers, limits=limits) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    "/chat/completions",
                    json={"messages": [{"role": "user", "content": f"email {n}"}]},
                )
                for n in range(100)
            )
        )

    assert [r.status_code for r in responses] == [200] * 100
    requests = fake.chat_requests()
    # Served one at a time, no request would start before the one before it had its answer.
    at_once = max(sum(1 for other in requests
                      if other.received_at <= r.received_at < (other.responded_at or 0))
                  for r in requests)
    assert at_once >= 20


def test_stop_drops_requests_still_waiting() -> None:
    fake = FakeOpenRouter().start()
    fake.script(Hang(30))
    errors: list[Exception] = []

    def call() -> None:
        try:
            httpx.post(
                f"{fake.base_url}/chat/completions",
                json={"messages": [{"role": "user", "content": "hi"}]},
                headers={"Authorization": f"Bearer {fake.api_key}"},
                timeout=10,
            )
        except httpx.HTTPError as error:
            errors.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    while not fake.requests:
        time.sleep(0.01)
    started = time.monotonic()
    fake.stop()
    caller.join()

    assert time.monotonic() - started < 2.0
    assert len(errors) == 1
    assert isinstance(errors[0], httpx.RemoteProtocolError)


def test_restart_keeps_the_port_script_and_log() -> None:
    fake = FakeOpenRouter()
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.base_url
    with fake:
        base_url = fake.base_url
        with pytest.raises(RuntimeError, match="already running"):
            fake.start()
        httpx.get(f"{base_url}/key")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/key")
    with fake:
        assert fake.base_url == base_url
        httpx.get(f"{base_url}/key")
    assert len(fake.requests) == 2


def test_runs_as_a_separate_process() -> None:
    command = [sys.executable, "-m", "testkit.fake_openrouter", "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            ready = json.loads(process.stdout.readline())
            response = httpx.post(
                f"{ready['base_url']}/chat/completions",
                json={"messages": [{"role": "user", "content": "hi"}]},
                headers={"Authorization": f"Bearer {ready['api_key']}"},
            )
            assert response.status_code == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == 0
        finally:
            process.kill()
