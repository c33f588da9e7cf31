"""The FastAPI application: routes, the dashboard at ``/``, errors as clear 4xx/503 JSON."""

from __future__ import annotations

import logging
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError

from arena.api.act_routes import act_router
from arena.api.console import Console
from arena.api.read_routes import read_router
from arena.errors import ArenaError, BusError, InfrastructureUnavailable
from storage.errors import UnknownVersion

log = logging.getLogger(__name__)

# The dashboard loads nothing from anywhere but this server (the machines have no internet,
# and a page holding a bearer token runs no script it did not get from here): no inline
# script or style, no other origin.
SWAGGER = "/static/vendor/swagger-ui"  # swagger-ui-dist, vendored (see its VENDORED.md)
DASHBOARD_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)


def create_app(console: Console) -> FastAPI:
    """The API over ``console``; OpenAPI at ``/docs``."""
    app = FastAPI(
        title="Arena console",
        version="1",
        description="Read the registry and the fleet (role viewer); pin, unpin, roll back "
        "and promote (role operator). Authorization: Bearer <token>.",
        docs_url=None,  # served below from the vendored Swagger UI, not a CDN
        redoc_url=None,
    )
    app.include_router(read_router(console))
    app.include_router(act_router(console))
    dashboard = resources.files("arena.api").joinpath("dashboard.html").read_text()
    # The dashboard's script and style sheet, and the chart library vendored for it.
    app.mount("/static", StaticFiles(packages=[("arena.api", "static")]), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(dashboard, headers={"Content-Security-Policy": DASHBOARD_CSP})

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="Arena console: API",
            swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
        )

    @app.get("/healthz", response_class=PlainTextResponse, tags=["health"])
    def healthz() -> str:
        """``ok`` while the process serves (no token needed; touches no server)."""
        return "ok"

    @app.exception_handler(ArenaError)
    def arena_error(request: Request, exc: ArenaError) -> JSONResponse:
        # The CLI's words, with a code: unknown version 404, a refused change 409, a server
        # Arena depends on that does not answer 503.
        if isinstance(exc, BusError | InfrastructureUnavailable):
            log.error("%s %s: %s", request.method, request.url.path, exc)
            return JSONResponse({"detail": str(exc)}, status_code=503)
        code = 404 if isinstance(exc, UnknownVersion) else 409
        return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.exception_handler(OperationalError)
    def registry_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("%s %s: the registry is unavailable: %s", request.method, request.url, exc)
        return JSONResponse({"detail": "the registry (PostgreSQL) is unavailable"}, 503)

    return app
