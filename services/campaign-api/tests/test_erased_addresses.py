"""Erased addresses are remembered by a keyed digest only, and looked up in one batch."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db, usecases
from campaign_api.erasure import ErasureKey
from campaign_api.settings import Settings

KEY = "e" * 40


def test_the_digest_is_hmac_sha256_of_the_address_under_the_erasure_key() -> None:
    expected = hmac.new(KEY.encode(), b"ada@example.com", hashlib.sha256).hexdigest()
    assert ErasureKey(KEY).digest("ada@example.com") == expected
    assert ErasureKey("f" * 40).digest("ada@example.com") != expected
    assert hashlib.sha256(b"ada@example.com").hexdigest() != expected


def test_a_short_erasure_key_is_refused() -> None:
    with pytest.raises(ValueError, match="ERASURE_KEY"):
        ErasureKey("short")


def test_outside_development_the_erasure_key_is_required_and_named() -> None:
    base = {"database_url": "postgresql://unused/unused", "link_signing_key": "k" * 40,
            "public_base_url": "https://campaigns.example.com"}
    with pytest.raises(ValidationError, match="ERASURE_KEY is required"):
        Settings(**base, environment="production")
    with pytest.raises(ValidationError, match="ERASURE_KEY: at least 32"):
        Settings(**base, environment="production", erasure_key="short")
    settings = Settings(**base, environment="production", erasure_key=KEY)
    assert settings.erasure().digest("a@example.com") == ErasureKey(KEY).digest("a@example.com")
    development = Settings(database_url="postgresql://unused/unused")
    assert development.erasure().digest("a@example.com") != ErasureKey(KEY).digest(
        "a@example.com")


async def test_the_lookup_answers_which_addresses_are_erased_in_this_workspace_only(
    api_engine: AsyncEngine,
) -> None:
    erasure = ErasureKey(KEY)
    acme = (await usecases.create_workspace(api_engine, "acme")).id
    other = (await usecases.create_workspace(api_engine, "other")).id
    many = [f"user{i}@example.com" for i in range(20_000)]
    async with api_engine.begin() as conn:
        await db.record_erased(conn, acme, erasure.digest("ada@example.com"))
        await db.record_erased(conn, acme, erasure.digest("ada@example.com"))  # twice: once
        await db.record_erased(conn, acme, erasure.digest(many[-1]))
        await db.record_erased(conn, other, erasure.digest("grace@example.org"))
    async with api_engine.connect() as conn:
        found = await db.erased_among(conn, acme, erasure,
                                      ["ada@example.com", "grace@example.org", *many])
        assert found == {"ada@example.com", many[-1]}
        assert await db.erased_among(conn, other, erasure, ["ada@example.com"]) == set()
        assert await db.erased_among(conn, uuid.uuid4(), erasure, ["ada@example.com"]) == set()
        assert await db.erased_among(conn, acme, erasure, []) == set()
        # Under another key nothing matches: the digests are keyed.
        assert await db.erased_among(conn, acme, ErasureKey("f" * 40),
                                     ["ada@example.com"]) == set()
