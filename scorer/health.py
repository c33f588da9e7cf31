"""Liveness, readiness and Prometheus metrics over HTTP: /healthz, /readyz, /metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class Heartbeat:
    """The scoring loop beats once per iteration; a stale beat means the loop is stuck."""

    def __init__(self, stale_after_s: float = 30.0) -> None:
        self._last = time.monotonic()
        self._stale_after_s = stale_after_s

    def beat(self) -> None:
        self._last = time.monotonic()

    def alive(self) -> bool:
        return time.monotonic() - self._last < self._stale_after_s


def serve_health(
    port: int,
    registry: CollectorRegistry,
    alive: Callable[[], bool],
    ready: Callable[[], bool],
    host: str = "127.0.0.1",
) -> ThreadingHTTPServer:
    """Start the health server in a daemon thread; ``port`` 0 picks a free port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                ok = alive()
                self._send(200 if ok else 503, b"ok\n" if ok else b"stuck\n")
            elif self.path == "/readyz":
                ok = ready()
                self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
            else:
                self._send(404, b"not found\n")

        def _send(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # scrapes every few seconds would drown the service log

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
