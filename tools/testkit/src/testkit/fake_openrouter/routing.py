"""How the fake reads a chat request: validation, the models to try, and replies to send."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from testkit.fake_openrouter import payloads
from testkit.fake_openrouter.script import Empty, ErrorInBody, Malformed, Reply, Truncated


def chat_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    messages = body.get("messages")
    if not (isinstance(messages, list) and messages and all(isinstance(m, dict) for m in messages)):
        return "messages: expected a non-empty array of message objects"
    if not isinstance(body.get("model", ""), str):
        return "model: expected a string"
    models = body.get("models", [])
    if not (isinstance(models, list) and all(isinstance(m, str) for m in models)):
        return "models: expected an array of model slugs"
    if body.get("stream"):
        return "stream: the fake OpenRouter does not stream"
    return None


def candidates(body: Mapping[str, Any], default_model: str) -> list[str]:
    """Models to try in order: `model`, then the `models` list, each once; else the default."""
    listed = [body["model"]] if body.get("model") else []
    return list(dict.fromkeys([*listed, *body.get("models", [])])) or [default_model]


def as_reply(
    item: Reply | ErrorInBody | Empty | Truncated | Malformed, body: Mapping[str, Any]
) -> Reply:
    """The completion a content-bearing script item stands for."""
    match item:
        case Reply():
            return item
        case Empty():
            return Reply(content="")
        case Truncated():
            return Reply(content=payloads.truncated_email(body), finish_reason="length")
        case Malformed(content=content):
            return Reply(content=content)
        case ErrorInBody():
            return Reply(content="", finish_reason="error")
