"""The dashboard: server-rendered pages for people, over the REST API's use cases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from campaign_api.dashboard.ab_test_pages import ab_test_router
from campaign_api.dashboard.audience_pages import audience_router
from campaign_api.dashboard.auth import CsrfRejected, SignInRequired, signed_in
from campaign_api.dashboard.contact_csv_pages import csv_router
from campaign_api.dashboard.contact_pages import contact_router
from campaign_api.dashboard.journey_pages import journey_router
from campaign_api.dashboard.list_pages import list_router
from campaign_api.dashboard.outbox_pages import outbox_router
from campaign_api.dashboard.pages import STATIC_DIR, STATIC_PATH, not_found, templates
from campaign_api.dashboard.router import router
from campaign_api.dashboard.segment_pages import segment_router
from campaign_api.dashboard.settings import DashboardSettings
from campaign_api.dashboard.suppression_pages import suppression_router

Handler = Callable[[Request, Exception], Awaitable[Response]]


def install(app: FastAPI, settings: DashboardSettings | None = None) -> None:
    """Serve the dashboard under /dashboard/ with its own static files and error pages."""
    app.state.dashboard_settings = settings or DashboardSettings()
    app.include_router(router)
    app.include_router(ab_test_router)
    app.include_router(journey_router)
    app.include_router(outbox_router)
    app.include_router(audience_router)
    app.include_router(csv_router)  # before /contacts/{contact_id}
    app.include_router(contact_router)
    app.include_router(list_router)
    app.include_router(segment_router)
    app.include_router(suppression_router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="dashboard-static")

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        return HTMLResponse(templates.get_template("forbidden.html").render(), status_code=403)

    app.add_exception_handler(SignInRequired, _sign_in_first)
    app.add_exception_handler(CsrfRejected, csrf_rejected)
    _pages_for_what_is_not_there(app)


async def _sign_in_first(request: Request, exc: Exception) -> Response:
    """Whoever is signed out is sent to sign in, from a page or from a path that leads nowhere."""
    return RedirectResponse("/dashboard/signin", status_code=303)


def _pages_for_what_is_not_there(app: FastAPI) -> None:
    """Under /dashboard/, a path that leads nowhere (no route, or a malformed id in it) is the
    dashboard's own not-found page, not the API's problem document; elsewhere the handlers
    installed before (the API's) answer as they do."""
    api_handlers = {kind: cast(Handler, app.exception_handlers[kind])
                    for kind in (RequestValidationError, HTTPException)
                    if kind in app.exception_handlers}

    async def page(request: Request, what: str) -> Response:
        try:
            viewer = await signed_in(request)
        except SignInRequired as exc:
            return await _sign_in_first(request, exc)
        return not_found(request, viewer, what)

    async def on_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        where = {tuple(e.get("loc", ()))[:2] for e in exc.errors()}
        if _on_dashboard(request) and any(loc[:1] == ("path",) for loc in where):
            return await page(request, "campaign" if ("path", "campaign_id") in where
                              else "page")
        return await _delegate(api_handlers.get(RequestValidationError), request, exc)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if _on_dashboard(request) and exc.status_code in (404, 405):
            return await page(request, "page")
        return await _delegate(api_handlers.get(HTTPException), request, exc)

    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(HTTPException, on_http)


def _on_dashboard(request: Request) -> bool:
    return request.url.path == "/dashboard" or request.url.path.startswith("/dashboard/")


async def _delegate(handler: Handler | None, request: Request, exc: Exception) -> Response:
    if handler is None:
        raise exc
    return await handler(request, exc)


__all__ = ["install", "router"]
