"""Liveness, readiness and Prometheus metrics over HTTP: /healthz, /readyz, /metrics."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from arena.bus.loop import LoopHealth


class Heartbeat(LoopHealth):
    """The scoring loop beats once per iteration (failed ones too); a stale beat means the
    loop is stuck, a failure being retried makes it ``degraded: <cause>``."""

    def __init__(self, stale_after_s: float = 30.0) -> None:
        super().__init__()
        self._stale_after_s = stale_after_s

    def alive(self) -> bool:
        return self.seconds_since_beat() < self._stale_after_s


def healthz(heartbeat: Heartbeat, reloader: Callable[[], str] | None) -> tuple[int, bytes]:
    """/healthz: 503 ``stuck`` when the loop stopped going round; else 200 and the loop's
    state (``ok`` or ``degraded: <cause>``), then the reloader's line."""
    if not heartbeat.alive():
        return 503, b"stuck\n"
    lines = [heartbeat.state]
    if reloader is not None:
        lines.append(f"reloader: {reloader()}")
    return 200, ("\n".join(lines) + "\n").encode()


def serve_health(
    port: int,
    registry: CollectorRegistry,
    heartbeat: Heartbeat,
    ready: Callable[[], bool],
    host: str = "127.0.0.1",
    reloader: Callable[[], str] | None = None,
) -> ThreadingHTTPServer:
    """Start the health server in a daemon thread; ``port`` 0 picks a free port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                self._send(*healthz(heartbeat, reloader))
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
