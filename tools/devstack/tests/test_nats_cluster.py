from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path

import nats
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import StorageType, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import NoStreamResponseError, ServiceUnavailableError

from devstack.nats import EmbeddedNats, EmbeddedNatsCluster

STREAM = "EVENTS"


def stored_messages(node: EmbeddedNats) -> int:
    """Messages this node itself holds for the stream, from its monitoring endpoint."""
    url = f"{node.monitor_url}/jsz?streams=true"
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
        jsz = json.load(response)
    for account in jsz.get("account_details", []):
        for stream in account.get("stream_detail", []):
            if stream["name"] == STREAM:
                return int(stream["state"]["messages"])
    return 0


async def fetch(
    sub: JetStreamContext.PullSubscription, batch: int, deadline: float
) -> list[Msg]:
    # Just after a node rejoins, the new consumer may not have a leader yet: the pull is
    # answered 503 (no responders). Retry, as for a publish.
    while True:
        try:
            return await sub.fetch(batch, timeout=5)
        except ServiceUnavailableError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def publish(js: JetStreamContext, payload: bytes, deadline: float) -> None:
    # While a new stream leader is elected the publish is not acknowledged: retry.
    while True:
        try:
            await js.publish("events.created", payload, timeout=1)
            return
        except (NatsTimeoutError, NoStreamResponseError, ServiceUnavailableError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_replicated_stream_survives_losing_a_node(short_tmp: Path) -> None:
    with EmbeddedNatsCluster(short_tmp / "cluster", n=3) as cluster:
        nc = await nats.connect(servers=cluster.urls, max_reconnect_attempts=-1)
        try:
            js = nc.jetstream()
            await js.add_stream(
                StreamConfig(
                    name=STREAM, subjects=["events.>"], storage=StorageType.FILE, num_replicas=3
                )
            )
            info = await js.stream_info(STREAM)
            assert info.cluster is not None
            assert info.cluster.replicas is not None
            assert len(info.cluster.replicas) == 2
            await publish(js, b"before", time.monotonic() + 10)

            # Losing the stream leader to a crash is the harder case: a new one is elected.
            leader = next(
                i for i, n in enumerate(cluster.nodes) if n.server_name == info.cluster.leader
            )
            cluster.kill_node(leader)
            await publish(js, b"during", time.monotonic() + 15)

            cluster.start_node(leader)
            await publish(js, b"after", time.monotonic() + 10)
            deadline = time.monotonic() + 15
            while stored_messages(cluster.nodes[leader]) < 3:
                assert time.monotonic() < deadline, "restarted node did not catch up"
                await asyncio.sleep(0.2)

            sub = await js.pull_subscribe("events.>", stream=STREAM)
            messages = await fetch(sub, 3, time.monotonic() + 15)
            assert [m.data for m in messages] == [b"before", b"during", b"after"]
        finally:
            await nc.close()
