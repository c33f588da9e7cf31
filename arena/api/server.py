"""Run the API with uvicorn until SIGTERM or Ctrl-C (``arena api``)."""

from __future__ import annotations

import logging

import uvicorn

from arena.api.app import create_app
from arena.api.console import open_console
from arena.config import Settings

log = logging.getLogger(__name__)


def run_api(settings: Settings) -> None:
    """Serve on ``ARENA_API_HOST:ARENA_API_PORT``; uvicorn handles the signals."""
    api = settings.api
    if not api.parsed_tokens():
        log.warning("ARENA_API_TOKENS is empty: every /api/v1 request will be refused (401)")
    with open_console(settings) as console:
        log.info("dashboard: http://%s:%d/ (API docs at /docs)", api.host, api.port)
        uvicorn.run(create_app(console), host=api.host, port=api.port, log_config=None)
