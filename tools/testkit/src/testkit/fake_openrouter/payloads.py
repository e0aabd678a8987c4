"""OpenRouter's JSON shapes, and the deterministic content the fake fills them with."""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from testkit.fake_openrouter.script import Reply, ScriptItem

JSONObject: TypeAlias = dict[str, Any]

PROVIDER = "Testkit"

# OpenRouter's wording, so clients that log or match messages see realistic text.
_STATUS_MESSAGES = {
    400: "Bad Request",
    401: "User not found.",
    402: "Insufficient credits. Add more using https://openrouter.ai/credits",
    403: "Your chosen model requires moderation and your input was flagged",
    404: "Not Found",
    408: "Request timed out",
    429: "Rate limit exceeded",
    502: "Provider returned error",
    503: "No available model provider that meets your routing requirements",
}

_OPENERS = ("Your", "A fresh", "This week's", "An exclusive", "The latest", "A special")
_TOPICS = ("offer", "update", "guide", "invitation", "reminder", "story")


def status_message(status: int) -> str:
    return _STATUS_MESSAGES.get(status, "Provider returned error")


def error_body(code: int, message: str, metadata: Mapping[str, Any] | None = None) -> JSONObject:
    error: JSONObject = {"code": code, "message": message}
    if metadata is not None:
        error["metadata"] = dict(metadata)
    return {"error": error}


def moderation_metadata(body: Mapping[str, Any], model: str) -> JSONObject:
    flagged = last_user_text(body)
    if len(flagged) > 100:  # OpenRouter keeps 100 characters, eliding the middle
        flagged = f"{flagged[:48]}...{flagged[-49:]}"
    return {
        "reasons": ["harassment"],
        "flagged_input": flagged,
        "provider_name": PROVIDER,
        "model_slug": model,
    }


def message_text(message: Mapping[str, Any]) -> str:
    """A message's text, whether its content is a string or a list of content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def last_user_text(body: Mapping[str, Any]) -> str:
    users = [m for m in body.get("messages", ()) if isinstance(m, dict) and m.get("role") == "user"]
    return message_text(users[-1]) if users else ""


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def prompt_tokens(body: Mapping[str, Any]) -> int:
    messages = body.get("messages", ())
    return max(1, estimate_tokens("".join(message_text(m) for m in messages)))


def usage(prompt: int, completion: int, cost: float) -> JSONObject:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cost": cost,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def completion(
    model: str, content: str, finish_reason: str, usage_: Mapping[str, Any]
) -> JSONObject:
    return {
        "id": f"gen-{int(time.time())}-{uuid.uuid4().hex[:20]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "provider": PROVIDER,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "logprobs": None,
                "finish_reason": finish_reason,
                "native_finish_reason": finish_reason,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "refusal": None,
                    "reasoning": None,
                },
            }
        ],
        "usage": dict(usage_),
    }


def email_for(body: Mapping[str, Any]) -> dict[str, str]:
    """An email varied by a hash of the last user message, so each prompt gets its own email."""
    digest = hashlib.sha256(last_user_text(body).encode()).hexdigest()
    n = int(digest[:8], 16)
    ref = digest[:6]
    subject = f"{_OPENERS[n % len(_OPENERS)]} {_TOPICS[n // len(_OPENERS) % len(_TOPICS)]}"
    subject = f"{subject} (ref {ref})"
    sentence = f"We put together something for you, and it is waiting behind reference {ref}."
    link = f"https://example.com/r/{ref}"
    return {
        "subject": subject,
        "preheader": f"Open to see what we picked for you ({ref}).",
        "body_html": (
            f"<html><body><h1>{subject}</h1><p>{sentence}</p>"
            f'<p><a href="{link}">Read more</a></p></body></html>'
        ),
        "body_text": f"{subject}\n\n{sentence}\n\nRead more: {link}\n",
    }


def default_responder(body: Mapping[str, Any], model: str) -> ScriptItem:
    """The fake's answer when nothing is scripted: a valid JSON email for the request."""
    return Reply(content=email_for(body))


def truncated_email(body: Mapping[str, Any]) -> str:
    text = json.dumps(email_for(body))
    return text[: len(text) // 2]  # half an object is never valid JSON


def embedding(text: str, dimensions: int) -> list[float]:
    """A hashed bag of words, L2-normalised: texts sharing words get a high cosine similarity."""
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        n = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
        vector[n % dimensions] += 1.0 if n >> 63 else -1.0  # signed, so collisions tend to cancel
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector


def embeddings(model: str, texts: Sequence[str], dimensions: int, token_price: float) -> JSONObject:
    tokens = sum(estimate_tokens(text) for text in texts)
    return {
        "id": f"embd-{uuid.uuid4().hex[:20]}",
        "object": "list",
        "model": model,
        "data": [
            {"object": "embedding", "index": i, "embedding": embedding(text, dimensions)}
            for i, text in enumerate(texts)
        ],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens, "cost": tokens * token_price},
    }


def key_info(api_key: str, limit: float | None, spent: float) -> JSONObject:
    return {
        "data": {
            "label": f"{api_key[:10]}...{api_key[-3:]}",
            "limit": limit,
            "limit_remaining": None if limit is None else limit - spent,
            "limit_reset": None,
            "usage": spent,
            "usage_daily": spent,
            "usage_weekly": spent,
            "usage_monthly": spent,
            "is_free_tier": False,
        }
    }
