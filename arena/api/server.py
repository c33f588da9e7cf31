"""Run the API with uvicorn: in the foreground (``arena api``) or in a thread (demo, tests)."""

from __future__ import annotations

import logging
import threading
import time

import uvicorn
from fastapi import FastAPI

from arena.api.app import create_app
from arena.api.console import open_console
from arena.config import Settings

log = logging.getLogger(__name__)


def run_api(settings: Settings) -> None:
    """Serve on ``ARENA_API_HOST:ARENA_API_PORT`` until SIGTERM or Ctrl-C (uvicorn's signals)."""
    api = settings.api
    if not api.parsed_tokens():
        log.warning("ARENA_API_TOKENS is empty: every /api/v1 request will be refused (401)")
    with open_console(settings) as console:
        log.info("dashboard: http://%s:%d/ (API docs at /docs)", api.host, api.port)
        uvicorn.run(create_app(console), host=api.host, port=api.port, log_config=None)


class ApiThread:
    """The API served from a daemon thread of this process, for the demo and the tests."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", log_config=None)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="api", daemon=True)
        self.url = f"http://{host}:{port}"

    def start(self, timeout_s: float = 15.0) -> bool:
        """Start serving; False when it did not listen within ``timeout_s`` (port taken)."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)
