"""The whole system on a 3-node NATS cluster with streams of 3 replicas: a campaign keeps
going while one node is killed and restarted, and every recipient gets exactly one message."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest
from nats.js.api import StreamInfo

from contracts.streams import TOPOLOGY
from devstack.nats import EmbeddedNatsCluster
from devstack.stack import Stack
from testkit.fake_openrouter import FakeOpenRouter, Reply
from testkit.fixtures import scratch_dir
from testkit.system import maildir_messages, running_system, wait_for

pytestmark = pytest.mark.e2e

RECIPIENTS = [f"reader{i:03d}@example.com" for i in range(500)]
KILLED = 1
GENERATED = {
    "subject": "What changed this week",
    "preheader": "Three things",
    "body_html": "<p>Hello,</p><p>Three things changed this week.</p>",
    "body_text": "Hello,\n\nThree things changed this week.",
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmbeddedNatsCluster]:
    with scratch_dir("cb-cluster-nats-") as data, EmbeddedNatsCluster(data) as running:
        yield running


@pytest.fixture(scope="module")
def stack(cluster: EmbeddedNatsCluster, fake_llm: FakeOpenRouter) -> Iterator[Stack]:
    config_env = {
        "PATH": "/usr/bin:/bin",
        # All three nodes: a client whose server dies reconnects to another one.
        "NATS_URL": ",".join(cluster.urls),
    }
    with running_system("cb-cluster-", fake_llm, environ=config_env,
                        extra_env={"NATS_STREAM_REPLICAS": "3"}) as running:
        yield running


def message_ids(maildir: Path) -> Counter[str]:
    """Message-ID → how many copies arrived, for every message in the sink's Maildir."""
    return Counter(str(m["Message-ID"]) for m in maildir_messages(maildir))


def recipients(maildir: Path) -> Counter[str]:
    return Counter(str(m["To"]) for m in maildir_messages(maildir))


async def stream_infos(urls: list[str]) -> list[StreamInfo]:
    nc = await nats.connect(servers=urls)
    try:
        js = nc.jetstream()
        return [await js.stream_info(spec.name) for spec in TOPOLOGY.streams]
    finally:
        await nc.close()


async def test_streams_are_replicated_on_three_nodes(
    stack: Stack, cluster: EmbeddedNatsCluster
) -> None:
    for info in await stream_infos(cluster.urls):
        assert info.config.num_replicas == 3, info.config.name
        assert info.cluster is not None
        assert len(info.cluster.replicas or []) == 2, info.config.name


def test_losing_a_node_mid_campaign_loses_and_duplicates_nothing(
    stack: Stack, cluster: EmbeddedNatsCluster, fake_llm: FakeOpenRouter
) -> None:
    fake_llm.script(Reply(GENERATED))
    assert stack.maildir is not None
    maildir = stack.maildir
    payload = {
        "name": "Weekly changes",
        "description": "What changed in the product this week",
        "schedule_type": "weekly", "weekly_emails": 1, "weekly_days": [1],
        "total_months": 1, "ai_agent_id": "openai/gpt-4",
        "recipient_emails": RECIPIENTS,
    }
    with httpx.Client(base_url=stack.base_url, timeout=30,
                      headers={"Authorization": f"Bearer {stack.api_key}"}) as api:
        created = api.post("/api/campaigns/", json=payload)
    assert created.status_code == 201, created.text

    # The node dies while the campaign's events are in flight, as a crash would: no flush.
    wait_for("the first message", lambda: len(message_ids(maildir)) > 0, 60)
    cluster.kill_node(KILLED)
    sent_while_down = len(message_ids(maildir))
    time.sleep(3)
    cluster.start_node(KILLED)

    wait_for(f"{len(RECIPIENTS)} messages",
             lambda: sum(message_ids(maildir).values()) >= len(RECIPIENTS), 180)
    time.sleep(2)  # anything sent twice would arrive now
    ids = message_ids(maildir)
    assert sum(ids.values()) == len(RECIPIENTS)
    assert all(count == 1 for count in ids.values())
    assert recipients(maildir) == Counter(RECIPIENTS)
    # The kill happened mid-campaign, not before or after it.
    assert 0 < sent_while_down < len(RECIPIENTS)
