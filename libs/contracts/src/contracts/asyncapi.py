"""The AsyncAPI 3 document of the whole system, generated from the contracts.

`python -m contracts.asyncapi > libs/contracts/asyncapi.json` regenerates the committed copy;
a test fails when the two disagree.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from contracts.events import EVENT_TYPES
from contracts.streams import CONSUMERS, PRODUCERS, STREAMS

_REF_PREFIX = "#/components/schemas/"


def _channel_key(event_type: str) -> str:
    return event_type.replace(".", "_")


def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for event_type, cls in sorted(EVENT_TYPES.items()):
        schema = cls.model_json_schema(ref_template=_REF_PREFIX + "{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[cls.__name__] = schema
        key = _channel_key(event_type)
        stream = next(s.name for s in STREAMS if any(_covers(p, event_type) for p in s.subjects))
        messages[cls.__name__] = {
            "name": event_type,
            "title": cls.__name__,
            "summary": (cls.__doc__ or "").strip() or None,
            "contentType": "application/json",
            "headers": {"type": "object", "properties": {"Nats-Msg-Id": {
                "type": "string", "description": "event_id; JetStream drops repeats"}}},
            "payload": {"$ref": _REF_PREFIX + cls.__name__},
        }
        channels[key] = {
            "address": event_type,
            "description": f"JetStream stream {stream}",
            "messages": {cls.__name__: {"$ref": f"#/components/messages/{cls.__name__}"}},
        }
        ref = {"$ref": f"#/channels/{key}"}
        operations[f"{PRODUCERS[event_type]}.send.{key}"] = {
            "action": "send", "channel": ref, "x-service": PRODUCERS[event_type],
        }
        for consumer in CONSUMERS:
            if any(_covers(p, event_type) for p in consumer.filter_subjects):
                operations[f"{consumer.service}.receive.{key}"] = {
                    "action": "receive", "channel": ref, "x-service": consumer.service,
                    "x-durable": consumer.durable,
                }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Campaign Builder events", "version": "1",
                 "description": "Events between campaign-api, scheduler, content-generator "
                                "and mailer, over NATS JetStream."},
        "defaultContentType": "application/json",
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {"schemas": dict(sorted(schemas.items())),
                       "messages": dict(sorted(messages.items()))},
    }


def _covers(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a trailing `>` one or more."""
    p_tokens, s_tokens = pattern.split("."), subject.split(".")
    for i, token in enumerate(p_tokens):
        if token == ">":
            return len(s_tokens) > i
        if i >= len(s_tokens) or (token != "*" and token != s_tokens[i]):
            return False
    return len(p_tokens) == len(s_tokens)


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
