"""Issue point 3: schemathesis against the live OpenAPI document, a bounded number of examples
per operation, on a real migrated database: no 5xx, every answer conforms to the schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from campaign_api import usecases
from campaign_api.app import create_app
from campaign_api.settings import Settings
from testkit.fixtures import CreateDatabase

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture
async def fuzzed(migrated_database: CreateDatabase) -> AsyncIterator[tuple[Any, str]]:
    url = await migrated_database("campaign_api")
    # Schemathesis drives the ASGI app from its own event loops: no pooled connections.
    engine = create_async_engine(url, poolclass=NullPool)
    workspace = await usecases.create_workspace(engine, "fuzz")
    key = (await usecases.create_api_key(engine, workspace.id)).key
    app = create_app(engine, [], settings=Settings(
        database_url=url, environment="test", link_signing_key="k" * 40, erasure_key="e" * 40,
        rate_burst=1_000_000))
    yield schemathesis.openapi.from_asgi("/openapi.json", app), key
    await engine.dispose()


def test_the_api_honours_its_schema(fuzzed: tuple[Any, str]) -> None:
    api, key = fuzzed
    headers = {"Authorization": f"Bearer {key}"}
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 20

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            fuzz()
        except Exception as exc:
            failures[operation.label] = str(exc)[:2_000]
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
