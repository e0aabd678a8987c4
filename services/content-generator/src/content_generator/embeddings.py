"""Vectors for the semantic memory of generated emails.

Two embedders share one interface:
- `HashingEmbedder`, the default: no network, no model download. It is NOT a neural embedding:
  it hashes the words and the character trigrams of the text into a fixed number of signed
  buckets and L2-normalises the counts. Emails that share wording score high; emails that say
  the same thing in different words score low. It catches repeated subjects, openings and
  paragraphs, which is what the near-duplicate check is for, but it understands no meaning.
- `OpenRouterEmbedder`: an OpenAI-compatible `POST {base}/embeddings` (OpenRouter, or any
  compatible endpoint), for real semantic similarity.

Vectors of different embedders live in different spaces: each is stored with the embedder's
`name`, and only vectors of the same name are ever compared.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import httpx
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from content_generator.domain import COST_QUANTUM, EmailContent
from content_generator.providers.base import LlmCall, ProviderError, Usage

_WORD = re.compile(r"\w+")
_MAX_INPUT_CHARS = 8_000


@dataclass(frozen=True)
class Embedded:
    vector: tuple[float, ...]
    calls: tuple[LlmCall, ...] = ()  # billed requests made to get it


class Embedder(Protocol):
    # Identifies the vector space: stored with each vector, compared only with its own kind.
    name: str

    async def embed(self, text: str) -> Embedded: ...


def email_text(email: EmailContent) -> str:
    """What an email is embedded as: its subject, preheader and plain-text body."""
    return f"{email.subject}\n{email.preheader}\n{email.body_text}"[:_MAX_INPUT_CHARS]


def _normalised(vector: list[float]) -> tuple[float, ...]:
    norm = math.sqrt(sum(v * v for v in vector))
    return tuple(v / norm for v in vector) if norm else tuple(vector)


@functools.lru_cache(maxsize=8192)
def _word_buckets(word: str, dimensions: int) -> tuple[tuple[int, int], ...]:
    """(bucket, signed count) of a word's features: the word itself and, for words longer than
    three letters, its character trigrams. Cached: a campaign's emails reuse their words, and
    hashing every feature of every email again is most of the embedder's work."""
    features = [f"w:{word}"]
    if len(word) > 3:
        features += [f"g:{word[i:i + 3]}" for i in range(len(word) - 2)]
    buckets: Counter[int] = Counter()
    for feature in features:
        n = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
        # The sign bit makes colliding features tend to cancel rather than add up.
        buckets[n % dimensions] += 1 if n >> 63 else -1
    return tuple(buckets.items())


class HashingEmbedder:
    """Hashed bag of words and character trigrams, signed, L2-normalised (see module doc)."""

    def __init__(self, dimensions: int = 256) -> None:
        self.dimensions = dimensions
        self.name = f"offline/hashed-ngrams-{dimensions}"

    def features(self, text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        grams = [w[i:i + 3] for w in words if len(w) > 3 for i in range(len(w) - 2)]
        return [f"w:{w}" for w in words] + [f"g:{g}" for g in grams]

    def vector(self, text: str) -> tuple[float, ...]:
        """The counts of `features(text)` hashed into signed buckets, word by word: a word
        that occurs n times adds its features' buckets n times."""
        buckets = [0.0] * self.dimensions
        for word, count in Counter(_WORD.findall(text.lower())).items():
            for bucket, signed in _word_buckets(word, self.dimensions):
                buckets[bucket] += signed * count
        return _normalised(buckets)

    async def embed(self, text: str) -> Embedded:
        return Embedded(self.vector(text))


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    index: int = 0
    embedding: list[float] = Field(min_length=1, max_length=16_000)


class _Usage(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    prompt_tokens: int = Field(default=0, ge=0)
    cost: Decimal = Field(default=Decimal(0), ge=0)


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    model: str | None = Field(default=None, max_length=200)
    data: list[_Item] = Field(min_length=1)
    usage: _Usage | None = None


class OpenRouterEmbedder:
    """OpenAI-compatible embeddings endpoint; one request per text, no retries of its own (a
    failure surfaces as a retryable ProviderError and the email is retried as a whole)."""

    provider = "openrouter"

    def __init__(
        self, client: httpx.AsyncClient, *, api_key: str, base_url: str, model: str,
        timeout: float = 20.0,
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/embeddings"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._model = model
        self._timeout = timeout
        self.name = f"openrouter/{model}"

    async def embed(self, text: str) -> Embedded:
        started = time.monotonic()
        body = {"model": self._model, "input": text[:_MAX_INPUT_CHARS]}
        try:
            response = await self._client.post(self._url, json=body, headers=self._headers,
                                               timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise self._failed(f"embedding request failed: {exc!r}", started) from exc
        if response.status_code != 200:
            raise self._failed(f"embedding HTTP {response.status_code}: {response.text[:300]}",
                               started, response.status_code)
        try:
            parsed = _Response.model_validate_json(response.content)
        except pydantic.ValidationError as exc:
            raise self._failed(f"malformed embedding response: {exc.error_count()} problem(s)",
                               started, 200) from exc
        usage = Usage(prompt_tokens=parsed.usage.prompt_tokens,
                      cost=parsed.usage.cost.quantize(COST_QUANTUM)) if parsed.usage else Usage()
        call = LlmCall(self.provider, parsed.model or self._model, "ok", usage,
                       round((time.monotonic() - started) * 1000), 200, kind="embedding")
        return Embedded(_normalised(parsed.data[0].embedding), (call,))

    def _failed(self, message: str, started: float, status: int | None = None) -> ProviderError:
        error = ProviderError(message, reason="unavailable", retryable=True, http_status=status)
        error.calls = (LlmCall(self.provider, self._model, "error", Usage(),
                               round((time.monotonic() - started) * 1000), status, message,
                               kind="embedding"),)
        return error
