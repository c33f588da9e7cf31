"""A small HTTP server for a service's operational endpoints (``/metrics`` and friends).

Every service serves Prometheus metrics the same way; the scorer adds ``/healthz`` and
``/readyz``. One server here, so a fix to it lands once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

Response = tuple[int, bytes, str]
"""Status code, body, content type."""

Route = Callable[[], Response]


def metrics_route(registry: CollectorRegistry) -> Route:
    """``/metrics``: the registry in Prometheus' text format."""
    return lambda: (200, generate_latest(registry), CONTENT_TYPE_LATEST)


def serve_routes(
    host: str, port: int, routes: Mapping[str, Route], name: str
) -> ThreadingHTTPServer:
    """Serve GET ``routes`` (path -> response) in a daemon thread; ``port`` 0 picks a free one.

    Read the bound port from ``server.server_address[1]``; stop with ``server.shutdown()``.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path)
            if route is None:
                self._send(404, b"not found\n", "text/plain")
                return
            try:
                self._send(*route())
            except Exception:  # a broken route must not take the server down
                log.exception("%s: %s failed", name, self.path)
                self._send(500, b"internal error\n", "text/plain")

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # scrapes every few seconds would drown the service log

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server


def serve_metrics(
    host: str, port: int, registry: CollectorRegistry, service: str
) -> ThreadingHTTPServer:
    """Serve ``/metrics`` for ``service`` and log where (the port is chosen when it is 0)."""
    server = serve_routes(host, port, {"/metrics": metrics_route(registry)}, f"{service}-metrics")
    log.info("%s: /metrics on %s:%d", service, host, server.server_address[1])
    return server
