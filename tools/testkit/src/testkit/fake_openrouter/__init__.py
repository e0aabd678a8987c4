"""A fake OpenRouter for tests: real HTTP, OpenRouter's request and response formats, and
scriptable faults (error statuses, errors inside 200s, bad content, hangs, dropped connections).

    with FakeOpenRouter() as fake:
        fake.script(Error(503), model="openai/gpt-4o")
        ...  # point the app at fake.base_url with fake.api_key
"""

from testkit.fake_openrouter.log import RecordedRequest
from testkit.fake_openrouter.payloads import default_responder, email_for
from testkit.fake_openrouter.script import (
    Disconnect,
    Empty,
    Error,
    ErrorInBody,
    Hang,
    Malformed,
    Reply,
    Responder,
    ScriptItem,
    Truncated,
)
from testkit.fake_openrouter.server import DEFAULT_API_KEY, DEFAULT_MODEL, FakeOpenRouter

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_MODEL",
    "Disconnect",
    "Empty",
    "Error",
    "ErrorInBody",
    "FakeOpenRouter",
    "Hang",
    "Malformed",
    "RecordedRequest",
    "Reply",
    "Responder",
    "ScriptItem",
    "Truncated",
    "default_responder",
    "email_for",
]
