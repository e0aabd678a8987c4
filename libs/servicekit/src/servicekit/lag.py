"""Consumer lag: how far each durable consumer of the service is behind its stream.

Sampled from JetStream's consumer info, not counted locally, so every replica reports the
same truth and a consumer that is stuck (not fetching at all) still shows a growing lag.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import nats.errors
import structlog
from nats.js import JetStreamContext
from prometheus_client import Gauge

from contracts.streams import ConsumerSpec

log = structlog.get_logger(__name__)

PENDING = Gauge(
    "consumer_pending_messages", "Stream messages not yet delivered to the consumer", ["consumer"]
)
ACK_PENDING = Gauge(
    "consumer_ack_pending_messages", "Messages delivered and not yet acknowledged", ["consumer"]
)
REDELIVERED = Gauge(
    "consumer_redelivered_messages", "Messages delivered more than once, not yet acknowledged",
    ["consumer"],
)


async def sample_once(js: JetStreamContext, specs: Sequence[ConsumerSpec]) -> None:
    for spec in specs:
        try:
            info = await js.consumer_info(spec.stream, spec.durable)
        except (TimeoutError, nats.errors.Error) as exc:  # the broker may be briefly away
            log.warning("consumer.lag_unknown", consumer=spec.durable, error=repr(exc))
            continue
        PENDING.labels(spec.durable).set(info.num_pending or 0)
        ACK_PENDING.labels(spec.durable).set(info.num_ack_pending or 0)
        REDELIVERED.labels(spec.durable).set(info.num_redelivered or 0)


async def sample_consumer_lag(
    js: JetStreamContext, specs: Sequence[ConsumerSpec], *, interval: float = 15.0
) -> None:
    """Runs for the life of the service; a scrape sees values at most `interval` old."""
    while True:
        await sample_once(js, specs)
        await asyncio.sleep(interval)
