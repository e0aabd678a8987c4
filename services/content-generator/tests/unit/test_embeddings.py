"""The offline embedder: deterministic, unit length, and close for texts that share wording."""

from __future__ import annotations

import hashlib
import math

from content_generator.embeddings import HashingEmbedder


def _cosine(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_vectors_are_deterministic_unit_length_and_of_the_configured_size() -> None:
    embedder = HashingEmbedder(128)
    first = await embedder.embed("Our starter turned forty this spring.")
    again = await HashingEmbedder(128).embed("Our starter turned forty this spring.")
    assert first == again
    assert first.calls == ()  # no network, nothing billed
    assert len(first.vector) == 128
    assert math.isclose(math.fsum(v * v for v in first.vector), 1.0)
    assert embedder.name == "offline/hashed-ngrams-128"


def test_shared_wording_scores_high_and_other_topics_low() -> None:
    embedder = HashingEmbedder()
    base = embedder.vector("Meet our forty-year-old sourdough starter and the bakers who feed it "
                           "every morning in Lyon.")
    reworded = embedder.vector("Re: meet our forty year old sourdough starter, and the bakers "
                               "who feed it each morning in Lyon!")
    other = embedder.vector("Quarterly invoice reminder: payment terms for enterprise accounts.")
    assert _cosine(base, reworded) > 0.8
    assert _cosine(base, other) < 0.3


def test_an_empty_text_gives_a_zero_vector_not_an_error() -> None:
    assert set(HashingEmbedder(16).vector("  ")) == {0.0}


def test_hashing_word_by_word_counts_every_feature_of_the_text() -> None:
    """The cached per-word hashing adds up to the definition: each feature of the text hashed
    into its signed bucket once per occurrence."""
    embedder = HashingEmbedder(64)
    text = "Fresh bread, fresh starter: the bakers bake bread for bakers."
    buckets = [0.0] * 64
    for feature in embedder.features(text):
        n = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
        buckets[n % 64] += 1.0 if n >> 63 else -1.0
    norm = math.sqrt(sum(v * v for v in buckets))
    assert embedder.vector(text) == tuple(v / norm for v in buckets)
