"""The dashboard: server-rendered pages for people, over the REST API's use cases."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from campaign_api.dashboard.auth import CsrfRejected, SignInRequired
from campaign_api.dashboard.outbox_pages import outbox_router
from campaign_api.dashboard.router import STATIC_DIR, router, templates
from campaign_api.dashboard.settings import DashboardSettings


def install(app: FastAPI, settings: DashboardSettings | None = None) -> None:
    """Serve the dashboard under /dashboard/ with its own static files and error pages."""
    app.state.dashboard_settings = settings or DashboardSettings()
    app.include_router(router)
    app.include_router(outbox_router)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")

    async def sign_in_first(request: Request, exc: Exception) -> Response:
        return RedirectResponse("/dashboard/signin", status_code=303)

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        return HTMLResponse(templates.get_template("forbidden.html").render(), status_code=403)

    app.add_exception_handler(SignInRequired, sign_in_first)
    app.add_exception_handler(CsrfRejected, csrf_rejected)


__all__ = ["install", "router"]
