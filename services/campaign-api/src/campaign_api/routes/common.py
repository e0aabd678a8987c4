from __future__ import annotations

from typing import Any

from campaign_api.schemas import Problem


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        401: "Missing or invalid API key", 404: "Not found in this workspace",
        409: "Not possible in the campaign's current state", 413: "Request body too large",
        422: "Invalid request", 429: "Rate limit exceeded", 502: "Bad answer from a service",
        503: "A service it needs is not running", 504: "A service it needs did not answer",
    }
    # `model` puts Problem in the components; the content says what is really sent.
    problem_json = {"schema": {"$ref": "#/components/schemas/Problem"}}
    return {s: {"model": Problem, "description": described[s],
                "content": {"application/problem+json": problem_json}} for s in statuses}
